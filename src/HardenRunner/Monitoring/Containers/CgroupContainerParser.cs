namespace HardenRunner.Monitoring.Containers;

/// <summary>What a cgroup path says about a container: runtime, 64-hex id and, under kubepods, the pod's UID.</summary>
public sealed record CgroupContainer(string Runtime, string Id, string? PodUid);

/// <summary>
/// Recognises the container a process runs in from the text of <c>/proc/PID/cgroup</c> (cgroup v2 <c>0::/path</c>
/// and v1 <c>N:controllers:/path</c> lines). Known layouts only — Docker (<c>/docker/ID</c>, <c>docker-ID.scope</c>),
/// containerd under CRI (<c>cri-containerd-ID.scope</c>), CRI-O (<c>crio-ID.scope</c>), podman
/// (<c>libpod-ID.scope</c>) and kubepods cgroupfs paths (<c>/kubepods/QOS/podUID/ID</c>); anything else, and lines
/// that disagree with each other, give null: never a guess. Pure and allocation-light.
/// </summary>
public static class CgroupContainerParser
{
    /// <summary>Largest cgroup file read (a process in every v1 hierarchy with long paths stays far below).</summary>
    public const int MaxBytes = 8192;

    /// <summary>The container named by <paramref name="cgroupFile"/>'s lines, or null.</summary>
    public static CgroupContainer? Parse(ReadOnlySpan<char> cgroupFile)
    {
        CgroupContainer? found = null;
        foreach (var raw in cgroupFile.EnumerateLines())
        {
            var line = raw.TrimEnd('\r');
            if (line.IsEmpty)
            {
                continue;
            }

            // hierarchy-id:controllers:path — the path itself may contain ':'
            var first = line.IndexOf(':');
            if (first < 0)
            {
                continue;
            }

            var second = line[(first + 1)..].IndexOf(':');
            if (second < 0)
            {
                continue;
            }

            var c = ParsePath(line[(first + 1 + second + 1)..]);
            if (c is null)
            {
                continue;
            }

            if (found is null)
            {
                found = c;
            }
            else if (found != c)
            {
                return null; // two hierarchies name different containers: refuse to pick one
            }
        }

        return found;
    }

    /// <summary>The container named by one cgroup path (e.g. <c>/system.slice/docker-ID.scope</c>), or null.</summary>
    public static CgroupContainer? ParsePath(ReadOnlySpan<char> path)
    {
        if (path.IsEmpty || path[0] != '/')
        {
            return null;
        }

        // the innermost component that names a container wins (docker in docker); child cgroups a container
        // made inside its own (…/libpod-ID.scope/container, …/init.scope) stay that container's
        Span<Range> parts = stackalloc Range[64];
        var count = path.Split(parts, '/', StringSplitOptions.RemoveEmptyEntries);
        if (count == parts.Length)
        {
            return null; // deeper than any layout this knows
        }

        for (var i = count - 1; i >= 0; i--)
        {
            var component = path[parts[i]];
            var previous = i > 0 ? path[parts[i - 1]] : default;
            if (!TryContainer(component, previous, out var runtime, out var id))
            {
                continue;
            }

            string? podUid = null;
            var underKubepods = false;
            for (var j = 0; j < i; j++)
            {
                var p = path[parts[j]];
                if (p.StartsWith("kubepods", StringComparison.Ordinal))
                {
                    underKubepods = true;
                }

                if (underKubepods && PodUid(p) is { } uid)
                {
                    podUid = uid;
                }
            }

            if (runtime == "cri" && podUid is null)
            {
                return null; // a bare 64-hex component means a container only under a kubepods pod
            }

            return new CgroupContainer(runtime, id, podUid);
        }

        return null;
    }

    private static bool TryContainer(ReadOnlySpan<char> component, ReadOnlySpan<char> previous, out string runtime, out string id)
    {
        runtime = "";
        id = "";
        if (IsId(component))
        {
            // cgroupfs drivers: /docker/ID, /kubepods/QOS/podUID/ID
            if (previous.SequenceEqual("docker"))
            {
                runtime = "docker";
            }
            else if (previous.StartsWith("pod", StringComparison.Ordinal) && PodUid(previous) is not null)
            {
                runtime = "cri";
            }
            else
            {
                return false;
            }

            id = component.ToString();
            return true;
        }

        if (!component.EndsWith(".scope", StringComparison.Ordinal))
        {
            return false;
        }

        var name = component[..^".scope".Length];
        foreach (var (prefix, rt) in ScopePrefixes)
        {
            if (name.Length == prefix.Length + 64 && name.StartsWith(prefix, StringComparison.Ordinal) && IsId(name[prefix.Length..]))
            {
                runtime = rt;
                id = name[prefix.Length..].ToString();
                return true;
            }
        }

        return false; // crio-conmon-ID.scope, libpod-conmon-ID.scope (the monitors, not the containers) fall here
    }

    private static readonly (string Prefix, string Runtime)[] ScopePrefixes =
    [
        ("docker-", "docker"),
        ("cri-containerd-", "containerd"),
        ("crio-", "cri-o"),
        ("libpod-", "podman"),
    ];

    /// <summary>The pod UID (with '-') in <c>podUID</c> or <c>kubepods[-QOS]-podUID.slice</c>, or null.</summary>
    private static string? PodUid(ReadOnlySpan<char> component)
    {
        if (component.EndsWith(".slice", StringComparison.Ordinal))
        {
            var name = component[..^".slice".Length];
            var at = name.LastIndexOf("-pod", StringComparison.Ordinal);
            if (at < 0 || !name.StartsWith("kubepods", StringComparison.Ordinal))
            {
                return null;
            }

            return Uuid(name[(at + 4)..]);
        }

        return component.StartsWith("pod", StringComparison.Ordinal) ? Uuid(component[3..]) : null;
    }

    /// <summary>An 8-4-4-4-12 hex UUID separated by '-' or '_' (systemd slices), returned lowercase with '-'.</summary>
    private static string? Uuid(ReadOnlySpan<char> s)
    {
        if (s.Length != 36)
        {
            return null;
        }

        Span<char> result = stackalloc char[36];
        char? separator = null;
        for (var i = 0; i < 36; i++)
        {
            var ch = s[i];
            if (i is 8 or 13 or 18 or 23)
            {
                if ((ch != '-' && ch != '_') || (separator is { } sep && sep != ch))
                {
                    return null;
                }

                separator = ch;
                result[i] = '-';
            }
            else if (char.IsAsciiHexDigit(ch))
            {
                result[i] = char.ToLowerInvariant(ch);
            }
            else
            {
                return null;
            }
        }

        return new string(result);
    }

    private static bool IsId(ReadOnlySpan<char> s)
    {
        if (s.Length != 64)
        {
            return false;
        }

        foreach (var ch in s)
        {
            if (!char.IsAsciiHexDigitLower(ch) && !char.IsAsciiDigit(ch))
            {
                return false;
            }
        }

        return true;
    }
}
