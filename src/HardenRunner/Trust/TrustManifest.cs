using System.Text.Json;
using System.Text.Json.Serialization;

namespace HardenRunner.Trust;

internal enum TrustActionKind
{
    /// <summary>An existing file that was changed in place; a byte-exact backup is kept.</summary>
    ModifiedFile,

    /// <summary>A file that did not exist before.</summary>
    CreatedFile,

    /// <summary>A symbolic link that did not exist before.</summary>
    CreatedLink,

    /// <summary>A directory that did not exist before.</summary>
    CreatedDirectory,

    /// <summary>A Java keystore the CA was imported into with keytool; a byte-exact backup is kept.</summary>
    JavaKeystore,
}

/// <summary>One change made to the system, recorded before it is made (write-ahead), so a crash leaves a record.</summary>
internal sealed class TrustAction
{
    public TrustActionKind Kind { get; set; }

    /// <summary>The real path changed or created.</summary>
    public string Path { get; set; } = "";

    /// <summary>Backup file name inside the state directory (ModifiedFile, JavaKeystore).</summary>
    public string? Backup { get; set; }

    /// <summary>SHA-256 of the file before the change.</summary>
    public string? Before { get; set; }

    /// <summary>SHA-256 of the file after the change; null while the change is in progress (or when it failed).</summary>
    public string? After { get; set; }

    /// <summary>Link target (CreatedLink).</summary>
    public string? Target { get; set; }

    public string? Keytool { get; set; }

    public string? Alias { get; set; }
}

/// <summary>The record, in the state directory, of everything an installation changed.</summary>
internal sealed class TrustManifest
{
    public const string FileName = "manifest.json";

    public int Version { get; set; } = 1;

    public string Id { get; set; } = "";

    public TrustStoreKind Layout { get; set; }

    /// <summary>The CA certificate (DER, base64): needed to find and remove it from files changed by others.</summary>
    public string Certificate { get; set; } = "";

    public string CaPemPath { get; set; } = "";

    public string BundlePath { get; set; } = "";

    /// <summary>Directories where a rebuild tool run during the job may have added links to the CA's files.</summary>
    public List<string> ScanDirectories { get; set; } = [];

    public List<TrustAction> Actions { get; set; } = [];

    public static TrustManifest? Load(string stateDirectory)
    {
        var path = System.IO.Path.Combine(stateDirectory, FileName);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), TrustJsonContext.Default.TrustManifest)
                ?? throw new TrustStoreException($"{path} is empty");
        }
        catch (JsonException e)
        {
            throw new TrustStoreException($"{path} is not a valid trust manifest: {e.Message}", e);
        }
    }

    /// <summary>Saves atomically (temporary file + rename inside the state directory, which is ours).</summary>
    public void Save(string stateDirectory)
    {
        var path = System.IO.Path.Combine(stateDirectory, FileName);
        var temporary = path + ".tmp";
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(this, TrustJsonContext.Default.TrustManifest));
        File.Move(temporary, path, overwrite: true);
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TrustManifest))]
internal sealed partial class TrustJsonContext : JsonSerializerContext;
