using System.Text;
using HardenRunner.Events;
using HardenRunner.Proxy.GitHub;
using HardenRunner.Store;

namespace HardenRunner.Tests.Insights;

/// <summary>The proxy side: which credentials count as the job's token, and the body prefix copy that never holds bytes back.</summary>
public sealed class GitHubCallObserverTests
{
    private const string Ghs = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";

    private static string Basic(string userPass) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(userPass));

    [Theory]
    [InlineData("token " + Ghs, GitHubCall.InstallationToken)]
    [InlineData("Bearer " + Ghs, GitHubCall.InstallationToken)]
    [InlineData("bearer   " + Ghs + "  ", GitHubCall.InstallationToken)]
    [InlineData("BASIC:x-access-token:" + Ghs, GitHubCall.InstallationToken)]
    [InlineData("BASIC:anyone:" + Ghs, GitHubCall.InstallationToken)]
    [InlineData("token ghp_16C7e42F292c6912E7710c838347Ae178B4a", GitHubCall.PersonalToken)]
    [InlineData("Bearer github_pat_11AAAAAAA0123456789_abcdefghijklmnopqrstuvwxyz", GitHubCall.PersonalToken)]
    [InlineData("BASIC:x-access-token:ghp_16C7e42F292c6912E7710c838347Ae178B4a", GitHubCall.PersonalToken)]
    [InlineData("Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", GitHubCall.OtherCredential)]
    [InlineData("Basic !!!not-base64!!!", GitHubCall.OtherCredential)]
    [InlineData("BASIC:no-colon", GitHubCall.OtherCredential)]
    [InlineData("", null)]
    public void TokenKind_IsClassified_WithoutKeepingTheToken(string header, string? kind)
    {
        var value = header.StartsWith("BASIC:", StringComparison.Ordinal) ? Basic(header["BASIC:".Length..]) : header;
        Assert.Equal(kind, GitHubCallObserver.TokenKind([value]));
    }

    [Fact]
    public void TokenKind_AnyInstallationTokenAmongSeveralValuesWins()
    {
        Assert.Equal(GitHubCall.InstallationToken, GitHubCallObserver.TokenKind(["Bearer other", "token " + Ghs]));
        Assert.Null(GitHubCallObserver.TokenKind([]));
        Assert.Null(GitHubCallObserver.TokenKind([null, " "]));
    }

    [Theory]
    [InlineData(10, 100, 3, true)]
    [InlineData(100, 10, 7, false)]
    [InlineData(0, 10, 4, true)]
    [InlineData(10, 10, 1, true)]
    public async Task PrefixCapture_PassesEveryByte_AndKeepsOnlyTheBoundedPrefix(int size, int limit, int chunk, bool complete)
    {
        var body = Enumerable.Range(0, size).Select(i => (byte)i).ToArray();
        var capture = new PrefixCaptureStream(new MemoryStream(body), limit);
        var read = new MemoryStream();
        var buffer = new byte[chunk];
        int n;
        while ((n = await capture.ReadAsync(buffer)) > 0)
        {
            read.Write(buffer, 0, n);
        }

        Assert.Equal(body, read.ToArray());
        Assert.Equal(body.Take(limit).ToArray(), capture.Captured.ToArray());
        Assert.Equal(complete, capture.Complete);
    }

    [Fact]
    public void GitHubCall_RoundTripsThroughTheStoreCodec()
    {
        var e = new NetworkEvent(DateTimeOffset.UnixEpoch, "https", "api.github.com", "198.51.100.30", 443, Policy.Model.Decision.Allow, NetworkEvent.Passed, "r", "POST", "/graphql")
        {
            GitHub = new GitHubCall(GitHubCall.InstallationToken, 200, "issues=write", new GraphQlSummary("mutation", ["addComment"], ["acme/web"])),
        };
        var encoded = EventCodec.Encode(e);
        var back = (NetworkEvent)EventCodec.Decode(EventKind.Network, e.Time, encoded.Data);
        Assert.Equal(e.GitHub.Token, back.GitHub!.Token);
        Assert.Equal(200, back.GitHub.Status);
        Assert.Equal("issues=write", back.GitHub.AcceptedPermissions);
        Assert.Equal(["addComment"], back.GitHub.GraphQl!.Fields);
        Assert.Equal(["acme/web"], back.GitHub.GraphQl.Repositories);
        Assert.Null(((NetworkEvent)EventCodec.Decode(EventKind.Network, e.Time, EventCodec.Encode(e with { GitHub = null }).Data)).GitHub);
    }

    [Fact]
    public void TokenShapes_InGraphQlFieldNames_AreRedactedBeforeStorage()
    {
        var e = new NetworkEvent(DateTimeOffset.UnixEpoch, "https", "api.github.com", null, 443, Policy.Model.Decision.Allow, NetworkEvent.Passed, "r", "POST", "/graphql")
        {
            GitHub = new GitHubCall(GitHubCall.InstallationToken, 200, "contents=read ghp_16C7e42F292c6912E7710c838347Ae178B4a", new GraphQlSummary("query", ["ghp_16C7e42F292c6912E7710c838347Ae178B4a"], [], "ghs_16C7e42F292c6912E7710c838347Ae178B4a")),
        };
        Assert.DoesNotContain("16C7e42F292c6912E7710c838347Ae178B4a", EventCodec.Encode(e).Data, StringComparison.Ordinal);
    }
}
