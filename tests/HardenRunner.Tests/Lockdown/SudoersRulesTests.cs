using HardenRunner.Lockdown;

namespace HardenRunner.Tests.Lockdown;

public sealed class SudoersRulesTests
{
    private static readonly SudoersRules.Subject Runner = new("runner", 1001, new HashSet<string>(StringComparer.Ordinal) { "runner", "docker", "adm" });

    [Theory]
    [InlineData("runner ALL=(ALL) NOPASSWD:ALL")]
    [InlineData("runner\tALL = (ALL:ALL) ALL")]
    [InlineData("alice, runner ALL=(ALL) ALL")]
    [InlineData("alice,runner ALL=(ALL) ALL")]
    [InlineData("#1001 ALL=(ALL) NOPASSWD: ALL")]
    [InlineData("%docker ALL=(ALL) NOPASSWD: ALL")]
    [InlineData("%adm ALL=(root) /usr/bin/apt-get")]
    [InlineData("ALL ALL=(ALL) NOPASSWD: ALL")]
    public void Grants_SpecificationsThatApplyToTheUser(string line) =>
        Assert.True(SudoersRules.Grants(line, Runner), line);

    [Theory]
    [InlineData("root ALL=(ALL:ALL) ALL")]
    [InlineData("%sudo ALL=(ALL:ALL) ALL")]
    [InlineData("runner2 ALL=(ALL) ALL")]
    [InlineData("!runner ALL=(ALL) ALL")]
    [InlineData("# runner ALL=(ALL) ALL")]
    [InlineData("#includedir /etc/sudoers.d")]
    [InlineData("@includedir /etc/sudoers.d")]
    [InlineData("Defaults:runner !requiretty")]
    [InlineData("Defaults env_reset")]
    [InlineData("User_Alias ADMINS = runner, alice")]
    [InlineData("Cmnd_Alias SHUT = /sbin/halt")]
    [InlineData("")]
    public void Grants_NotOtherLines(string line) =>
        Assert.False(SudoersRules.Grants(line, Runner), line);

    [Fact]
    public void Disable_CommentsOutGrantingLines_KeepsEverythingElseByteForByte()
    {
        var text = "Defaults env_reset\nroot ALL=(ALL:ALL) ALL\nrunner ALL=(ALL) NOPASSWD:ALL\n#includedir /etc/sudoers.d\n";
        var result = SudoersRules.Disable(text, Runner, out var n);
        Assert.Equal(1, n);
        Assert.Equal("Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n" + SudoersRules.DisabledPrefix + "runner ALL=(ALL) NOPASSWD:ALL\n#includedir /etc/sudoers.d\n", result);
    }

    [Fact]
    public void Disable_ContinuationLines_AreDisabledWithTheirSpecification()
    {
        var text = "runner ALL=(ALL) \\\n    NOPASSWD: /bin/ls, \\\n    /bin/cat\nroot ALL=(ALL) ALL";
        var result = SudoersRules.Disable(text, Runner, out var n);
        Assert.Equal(1, n);
        var lines = result.Split('\n');
        Assert.Equal(4, lines.Length);
        Assert.All(lines[..3], l => Assert.StartsWith(SudoersRules.DisabledPrefix, l, StringComparison.Ordinal));
        Assert.Equal("root ALL=(ALL) ALL", lines[3]);
    }

    [Fact]
    public void Disable_NothingGranted_ReturnsTheSameText()
    {
        var text = "root ALL=(ALL:ALL) ALL\r\n%sudo ALL=(ALL:ALL) ALL\r\n";
        Assert.Equal(text, SudoersRules.Disable(text, Runner, out var n));
        Assert.Equal(0, n);
    }

    [Theory]
    [InlineData("runner", true)]
    [InlineData("90-cloud-init-users", true)]
    [InlineData("README", true)]
    [InlineData("runner.bak", false)]
    [InlineData("runner~", false)]
    public void IsReadByIncludeDir_FollowsSudoRules(string name, bool read) =>
        Assert.Equal(read, SudoersRules.IsReadByIncludeDir(name));
}
