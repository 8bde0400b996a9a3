namespace HardenRunner.LabInternet;

/// <summary>Writes the ready file atomically (temp file + rename), so a reader never sees it half-written.</summary>
internal static class ReadyMarker
{
    public static void Write(string path)
    {
        var temp = path + ".tmp";
        File.WriteAllText(temp, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        File.Move(temp, path, overwrite: true);
    }
}
