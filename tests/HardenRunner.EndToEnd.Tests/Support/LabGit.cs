using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests.Support;

/// <summary>Makes a bare repository served by every lab web server at <c>/git/&lt;owner&gt;/&lt;name&gt;.git</c> (dumb HTTP).</summary>
internal static class LabGit
{
    public static async Task<string> CreateRepositoryAsync(TestLab lab, string owner, string name)
    {
        var bare = Path.Combine(lab.StaticDirectory, "git", owner, name + ".git");
        var work = Path.Combine(lab.WorkDirectory, "src-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        await File.WriteAllTextAsync(Path.Combine(work, "README.md"), $"# {owner}/{name}\n");
        var env = new Dictionary<string, string>
        {
            ["GIT_AUTHOR_NAME"] = "lab", ["GIT_AUTHOR_EMAIL"] = "lab@lab.test",
            ["GIT_COMMITTER_NAME"] = "lab", ["GIT_COMMITTER_EMAIL"] = "lab@lab.test",
        };
        foreach (var args in new[]
        {
            new[] { "init", "-q", "-b", "main", work },
            ["-C", work, "add", "README.md"],
            ["-C", work, "commit", "-q", "-m", "initial"],
            ["clone", "-q", "--bare", work, bare],
            ["-C", bare, "update-server-info"],
        })
        {
            var r = await lab.RunInRunnerAsync("git", args, TimeSpan.FromSeconds(20), env);
            if (!r.Succeeded)
            {
                throw new InvalidOperationException("git " + string.Join(' ', args) + " failed:\n" + r);
            }
        }

        return bare;
    }
}
