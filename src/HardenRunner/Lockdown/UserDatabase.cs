using System.Globalization;

namespace HardenRunner.Lockdown;

/// <summary>Reads a user's uid and groups from passwd/group files (no NSS: a CI runner's users are local).</summary>
public static class UserDatabase
{
    /// <summary>The subject for <paramref name="user"/>, or null when the passwd file does not name it.</summary>
    public static SudoersRules.Subject? Find(string user, string passwdPath = "/etc/passwd", string groupPath = "/etc/group")
    {
        ArgumentNullException.ThrowIfNull(user);
        if (!File.Exists(passwdPath))
        {
            return null;
        }

        int? uid = null;
        string? primaryGid = null;
        foreach (var line in File.ReadLines(passwdPath))
        {
            var f = line.Split(':');
            if (f.Length >= 4 && f[0] == user && int.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var u))
            {
                uid = u;
                primaryGid = f[3];
                break;
            }
        }

        if (uid is null)
        {
            return null;
        }

        var groups = new HashSet<string>(StringComparer.Ordinal);
        if (File.Exists(groupPath))
        {
            foreach (var line in File.ReadLines(groupPath))
            {
                var f = line.Split(':');
                if (f.Length < 4)
                {
                    continue;
                }

                if (f[2] == primaryGid || f[3].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Contains(user, StringComparer.Ordinal))
                {
                    groups.Add(f[0]);
                }
            }
        }

        return new SudoersRules.Subject(user, uid.Value, groups);
    }
}
