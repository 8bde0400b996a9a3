using System.Net.Sockets;
using HardenRunner.Lockdown;

namespace HardenRunner.Tests.Lockdown;

/// <summary>The lockdown on a private tree of sudoers, passwd and group files and a real Unix socket (no root needed).</summary>
public sealed class PrivilegeLockdownTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("hr-lockdown-").FullName;

    public PrivilegeLockdownTests()
    {
        Directory.CreateDirectory(Path.Combine(_root, "sudoers.d"));
        File.WriteAllText(Path.Combine(_root, "passwd"), "root:x:0:0:root:/root:/bin/bash\nrunner:x:1001:1001::/home/runner:/bin/bash\n");
        File.WriteAllText(Path.Combine(_root, "group"), "root:x:0:\nrunner:x:1001:\ndocker:x:999:runner\nsudo:x:27:\n");
        File.WriteAllText(Path.Combine(_root, "sudoers"), "Defaults\tenv_reset\nroot\tALL=(ALL:ALL) ALL\n%sudo\tALL=(ALL:ALL) ALL\n@includedir " + Path.Combine(_root, "sudoers.d") + "\n");
        File.WriteAllText(Path.Combine(_root, "sudoers.d", "runner"), "runner ALL=(ALL) NOPASSWD:ALL\nDefaults:runner !requiretty\n");
        File.WriteAllText(Path.Combine(_root, "sudoers.d", "docker"), "%docker ALL=(root) NOPASSWD: /usr/bin/systemctl restart docker\r\n");
        File.WriteAllText(Path.Combine(_root, "sudoers.d", "runner.dpkg-old"), "runner ALL=(ALL) ALL\n");
        foreach (var f in Directory.EnumerateFiles(Path.Combine(_root, "sudoers.d")).Append(Path.Combine(_root, "sudoers")))
        {
            File.SetUnixFileMode(f, UnixFileMode.UserRead | UnixFileMode.GroupRead);
        }
    }

    private string State => Path.Combine(_root, "state", "lockdown");

    private LockdownOptions Options(bool containers = false, params string[] sockets) => new()
    {
        User = "runner",
        Containers = containers,
        SudoersPath = Path.Combine(_root, "sudoers"),
        SudoersDirectory = Path.Combine(_root, "sudoers.d"),
        PasswdPath = Path.Combine(_root, "passwd"),
        GroupPath = Path.Combine(_root, "group"),
        ContainerSockets = sockets,
    };

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private Dictionary<string, (byte[] Bytes, UnixFileMode Mode)> Snapshot() =>
        Directory.EnumerateFiles(Path.Combine(_root, "sudoers.d")).Append(Path.Combine(_root, "sudoers"))
            .ToDictionary(f => f, f => (File.ReadAllBytes(f), File.GetUnixFileMode(f)));

    [Fact]
    public void Apply_DisablesEveryRuleForTheUser_AndRestoreIsByteIdentical()
    {
        var before = Snapshot();

        var result = PrivilegeLockdown.Apply(State, Options());

        Assert.Equal(2, result.RulesDisabled);
        Assert.Equal([Path.Combine(_root, "sudoers.d", "docker"), Path.Combine(_root, "sudoers.d", "runner")], result.SudoersFilesChanged.Order(StringComparer.Ordinal));
        var runner = File.ReadAllText(Path.Combine(_root, "sudoers.d", "runner"));
        Assert.Equal(SudoersRules.DisabledPrefix + "runner ALL=(ALL) NOPASSWD:ALL\nDefaults:runner !requiretty\n", runner);
        Assert.StartsWith(SudoersRules.DisabledPrefix + "%docker", File.ReadAllText(Path.Combine(_root, "sudoers.d", "docker")), StringComparison.Ordinal);
        Assert.Equal(before[Path.Combine(_root, "sudoers")].Bytes, File.ReadAllBytes(Path.Combine(_root, "sudoers")));
        Assert.Equal(before[Path.Combine(_root, "sudoers.d", "runner.dpkg-old")].Bytes, File.ReadAllBytes(Path.Combine(_root, "sudoers.d", "runner.dpkg-old")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.GroupRead, File.GetUnixFileMode(Path.Combine(_root, "sudoers.d", "runner")));

        Assert.Equal(2, PrivilegeLockdown.Restore(State));
        foreach (var (path, (bytes, mode)) in before)
        {
            Assert.Equal(bytes, File.ReadAllBytes(path));
            Assert.Equal(mode, File.GetUnixFileMode(path));
        }

        Assert.Empty(Directory.EnumerateFiles(State));
        Assert.Equal(0, PrivilegeLockdown.Restore(State)); // idempotent
    }

    [Fact]
    public void Restore_AfterARunThatDied_UsesTheManifestOnDisk()
    {
        var original = File.ReadAllBytes(Path.Combine(_root, "sudoers.d", "runner"));
        PrivilegeLockdown.Apply(State, Options());
        // a new process (the next start) knows nothing but the state directory
        Assert.Throws<InvalidOperationException>(() => PrivilegeLockdown.Apply(State, Options()));
        Assert.Equal(2, PrivilegeLockdown.Restore(State));
        Assert.Equal(original, File.ReadAllBytes(Path.Combine(_root, "sudoers.d", "runner")));
    }

    [Fact]
    public void Apply_Containers_LocksSocketsAndRestoresTheirModes()
    {
        var socketPath = Path.Combine(_root, "docker.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(1);
        var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;
        File.SetUnixFileMode(socketPath, mode);

        var result = PrivilegeLockdown.Apply(State, Options(containers: true, socketPath, Path.Combine(_root, "absent.sock")));

        Assert.Equal([socketPath], result.SocketsLocked);
        Assert.Equal(UnixFileMode.None, File.GetUnixFileMode(socketPath));
        PrivilegeLockdown.Restore(State);
        Assert.Equal(mode, File.GetUnixFileMode(socketPath));
    }

    [Fact]
    public void Apply_UnknownUser_Refuses_AndChangesNothing()
    {
        var before = Snapshot();
        var ex = Assert.Throws<InvalidOperationException>(() => PrivilegeLockdown.Apply(State, Options() with { User = "nobody-here" }));
        Assert.Contains("nobody-here", ex.Message, StringComparison.Ordinal);
        foreach (var (path, (bytes, _)) in before)
        {
            Assert.Equal(bytes, File.ReadAllBytes(path));
        }
    }

    [Fact]
    public void Apply_NoRuleForTheUser_Warns()
    {
        File.WriteAllText(Path.Combine(_root, "sudoers.d", "runner"), "# nothing\n");
        File.WriteAllText(Path.Combine(_root, "sudoers.d", "docker"), "# nothing\n");
        var result = PrivilegeLockdown.Apply(State, Options());
        Assert.Equal(0, result.RulesDisabled);
        Assert.Contains(result.Warnings, w => w.Contains("no sudoers rule", StringComparison.Ordinal));
        Assert.Equal(0, PrivilegeLockdown.Restore(State));
    }
}
