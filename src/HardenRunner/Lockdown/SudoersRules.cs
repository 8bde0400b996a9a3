using System.Text;

namespace HardenRunner.Lockdown;

/// <summary>
/// Pure sudoers text handling for <c>disable-sudo</c>: finds the user specifications that grant a user anything
/// (by name, by <c>#uid</c>, through <c>%group</c> for a group the user is in, or through <c>ALL</c>) and comments
/// them out. Everything else (Defaults, aliases, include directives, other users' rules, comments) stays as it was.
/// Continuation lines (a trailing backslash) belong to the specification they continue.
/// </summary>
public static class SudoersRules
{
    /// <summary>What a disabled line starts with (a plain comment: '#' followed by a space is never a uid or a directive).</summary>
    public const string DisabledPrefix = "# harden-runner disabled: ";

    private static readonly string[] NonSpecKeywords = ["Defaults", "User_Alias", "Runas_Alias", "Host_Alias", "Cmnd_Alias", "Cmd_Alias"];

    /// <summary>The user whose rights are removed: name, uid and the names of every group the user is in.</summary>
    public sealed record Subject(string User, int Uid, IReadOnlySet<string> Groups);

    /// <summary>The text with every specification granting <paramref name="subject"/> commented out; <paramref name="changed"/> counts them.</summary>
    public static string Disable(string text, Subject subject, out int changed)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(subject);
        changed = 0;
        var lines = text.Split('\n');
        var sb = new StringBuilder(text.Length + 64);
        var i = 0;
        while (i < lines.Length)
        {
            // one logical line: physical lines joined while they end with a backslash
            var start = i;
            var logical = new StringBuilder();
            while (true)
            {
                var l = lines[i].TrimEnd('\r');
                var continues = l.EndsWith('\\') && i + 1 < lines.Length;
                logical.Append(continues ? l[..^1] : l).Append(' ');
                i++;
                if (!continues)
                {
                    break;
                }
            }

            var grants = Grants(logical.ToString(), subject);
            if (grants)
            {
                changed++;
            }

            for (var k = start; k < i; k++)
            {
                if (grants)
                {
                    sb.Append(DisabledPrefix);
                }

                sb.Append(lines[k]);
                if (k < lines.Length - 1)
                {
                    sb.Append('\n');
                }
            }
        }

        return sb.ToString();
    }

    /// <summary>Whether one logical sudoers line is a user specification that applies to the subject.</summary>
    public static bool Grants(string logicalLine, Subject subject)
    {
        ArgumentNullException.ThrowIfNull(logicalLine);
        ArgumentNullException.ThrowIfNull(subject);
        var line = logicalLine.Trim();
        var uidSpec = line.Length > 1 && line[0] == '#' && char.IsAsciiDigit(line[1]);
        if (line.Length == 0 || (line.StartsWith('#') && !uidSpec) || line.StartsWith('@'))
        {
            return false; // comments, '#include'/'#includedir', '@include'/'@includedir' ('#1001 …' is a uid)
        }

        foreach (var k in NonSpecKeywords)
        {
            if (line.StartsWith(k, StringComparison.Ordinal) && (line.Length == k.Length || !char.IsAsciiLetterOrDigit(line[k.Length]) && line[k.Length] != '_'))
            {
                return false;
            }
        }

        var eq = line.IndexOf('=', StringComparison.Ordinal);
        if (eq < 0)
        {
            return false;
        }

        // "User_List Host_List = …": spaces after commas belong to the list
        var head = line[..eq];
        while (head.Contains(", ", StringComparison.Ordinal) || head.Contains(" ,", StringComparison.Ordinal))
        {
            head = head.Replace(", ", ",", StringComparison.Ordinal).Replace(" ,", ",", StringComparison.Ordinal);
        }

        var userList = head.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        if (userList is null)
        {
            return false;
        }

        foreach (var raw in userList.Split(','))
        {
            var item = raw.Trim().Trim('"');
            if (item.StartsWith('!'))
            {
                continue; // a negation grants nothing
            }

            if (item == "ALL" || item == subject.User || item == "#" + subject.Uid.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                return true;
            }

            if (item.StartsWith('%'))
            {
                var group = item.TrimStart('%', ':');
                if (subject.Groups.Contains(group))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Whether sudo reads a file of an includedir: no '.' in its name and no trailing '~'.</summary>
    public static bool IsReadByIncludeDir(string fileName)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        return fileName.Length > 0 && !fileName.Contains('.', StringComparison.Ordinal) && !fileName.EndsWith('~');
    }
}
