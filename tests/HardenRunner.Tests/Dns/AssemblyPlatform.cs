// The appliance assembly is Linux-only (see src/HardenRunner/AssemblyInfo.cs); so are the tests that call it.
// The attribute allows multiple uses, so another folder declaring it too is fine.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
