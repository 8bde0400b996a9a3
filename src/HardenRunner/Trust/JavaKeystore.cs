namespace HardenRunner.Trust;

/// <summary>A JDK's CA keystore (<c>lib/security/cacerts</c>, usually a link to the distribution's) and the keytool to change it with.</summary>
public sealed record JavaKeystore(string KeystorePath, string KeytoolPath)
{
    /// <summary>
    /// The keystores of the JDKs named by <c>JAVA_HOME</c> and <c>JAVA_HOME_*</c> (GitHub's hosted runners set
    /// <c>JAVA_HOME_17_X64</c> and friends) and of the <c>java</c> found on <c>PATH</c>; one entry per real keystore
    /// file (several JDKs often share <c>/etc/ssl/certs/java/cacerts</c>).
    /// </summary>
    public static IReadOnlyList<JavaKeystore> Discover(IEnumerable<KeyValuePair<string, string?>> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var homes = new List<string>();
        string? path = null;
        foreach (var (name, value) in environment)
        {
            if (string.IsNullOrEmpty(value))
            {
                continue;
            }

            if (name == "JAVA_HOME" || name.StartsWith("JAVA_HOME_", StringComparison.Ordinal))
            {
                homes.Add(value);
            }
            else if (name == "PATH")
            {
                path = value;
            }
        }

        var java = path?.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => System.IO.Path.Combine(d, "java"))
            .FirstOrDefault(File.Exists);
        if (java is not null)
        {
            // <home>/bin/java, possibly through /usr/bin/java -> /etc/alternatives/java -> <home>/bin/java
            var real = RootedPaths.System.Resolve(java);
            homes.Add(System.IO.Path.GetDirectoryName(System.IO.Path.GetDirectoryName(real)!)!);
        }

        var found = new List<JavaKeystore>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var home in homes.Where(h => h.StartsWith('/')))
        {
            var keystore = FirstExisting(System.IO.Path.Combine(home, "lib/security/cacerts"), System.IO.Path.Combine(home, "jre/lib/security/cacerts"));
            var keytool = FirstExisting(System.IO.Path.Combine(home, "bin/keytool"), System.IO.Path.Combine(home, "jre/bin/keytool"));
            if (keystore is null || keytool is null)
            {
                continue;
            }

            var real = RootedPaths.System.Resolve(keystore);
            if (seen.Add(real))
            {
                found.Add(new JavaKeystore(real, keytool));
            }
        }

        return found;
    }

    private static string? FirstExisting(params string[] candidates) => candidates.FirstOrDefault(File.Exists);
}
