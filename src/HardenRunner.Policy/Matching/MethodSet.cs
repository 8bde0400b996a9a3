namespace HardenRunner.Policy.Matching;

/// <summary>
/// The methods of a layer-7 rule: a list or <c>*</c>. Methods compare case-insensitively (so <c>post</c> cannot
/// dodge a rule about <c>POST</c>), and a rule that names <c>GET</c> also covers <c>HEAD</c>, which is a GET without
/// a body (RFC 9110 §9.3.2).
/// </summary>
public sealed class MethodSet
{
    private readonly string[] _methods;

    private MethodSet(string[] methods, bool any)
    {
        _methods = methods;
        IsAny = any;
        Text = any ? "*" : string.Join(',', methods);
    }

    public static MethodSet Any { get; } = new([], true);

    public bool IsAny { get; }

    public string Text { get; }

    public IReadOnlyList<string> Methods => _methods;

    public static bool TryCreate(IEnumerable<string> methods, out MethodSet? set, out string? error)
    {
        set = null;
        error = null;
        var list = new List<string>();
        foreach (var raw in methods)
        {
            var m = raw.Trim();
            if (m == "*")
            {
                set = Any;
                return true;
            }

            if (!IsToken(m))
            {
                error = $"'{raw}' is not an HTTP method";
                return false;
            }

            var upper = m.ToUpperInvariant();
            if (!list.Contains(upper))
            {
                list.Add(upper);
            }
        }

        if (list.Count == 0)
        {
            error = "no method given";
            return false;
        }

        set = new MethodSet([.. list], false);
        return true;
    }

    /// <summary>True when <paramref name="method"/> (already validated as a token) is in the set.</summary>
    public bool Matches(ReadOnlySpan<char> method)
    {
        if (IsAny)
        {
            return true;
        }

        var isHead = method.Equals("HEAD", StringComparison.OrdinalIgnoreCase);
        foreach (var m in _methods)
        {
            if (method.Equals(m, StringComparison.OrdinalIgnoreCase) || (isHead && m == "GET"))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>An HTTP method is a token of letters (RFC 9110 allows more, but no real method uses it).</summary>
    public static bool IsToken(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty || s.Length > 32)
        {
            return false;
        }

        foreach (var c in s)
        {
            if (!(c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or '-' or '_'))
            {
                return false;
            }
        }

        return true;
    }
}
