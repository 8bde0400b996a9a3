namespace HardenRunner.Policy.Loading;

/// <summary>Where <c>extends:</c> finds presets by name.</summary>
public interface IPresetSource
{
    IReadOnlyCollection<string> Names { get; }

    bool TryGet(string name, out string yaml);
}

/// <summary>The presets shipped in <c>policies/presets/</c>, compiled into this assembly.</summary>
public sealed class EmbeddedPresets : IPresetSource
{
    private const string Prefix = "preset:";
    private readonly Dictionary<string, string> _presets = new(StringComparer.Ordinal);

    private EmbeddedPresets()
    {
        var asm = typeof(EmbeddedPresets).Assembly;
        foreach (var resource in asm.GetManifestResourceNames())
        {
            if (!resource.StartsWith(Prefix, StringComparison.Ordinal))
            {
                continue;
            }

            using var stream = asm.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            _presets[resource[Prefix.Length..]] = reader.ReadToEnd();
        }
    }

    public static EmbeddedPresets Instance { get; } = new();

    public IReadOnlyCollection<string> Names => _presets.Keys;

    public bool TryGet(string name, out string yaml) => _presets.TryGetValue(name, out yaml!);
}

/// <summary>Presets given in memory (tests, and callers that ship their own).</summary>
public sealed class InMemoryPresets(IReadOnlyDictionary<string, string> presets) : IPresetSource
{
    public IReadOnlyCollection<string> Names => [.. presets.Keys];

    public bool TryGet(string name, out string yaml) => presets.TryGetValue(name, out yaml!);
}
