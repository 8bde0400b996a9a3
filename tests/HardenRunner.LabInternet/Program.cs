namespace HardenRunner.LabInternet; internal static class Program { private static int Main() => 0; }
