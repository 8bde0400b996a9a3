using System.Text;
using HardenRunner.Reporting;

namespace HardenRunner.Tests.Reporting;

public sealed class SecretRedactorTests
{
    private const string Ghs = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";
    private const string Ghp = "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";
    private const string Pat = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV";
    private const string Jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJyZXBvOmFjbWUvd2ViIn0.c2lnbmF0dXJlLWJ5dGVz";

    public static TheoryData<string, string, string> Cases() => new()
    {
        // name, input, secret that must disappear
        { "Authorization Bearer header line", "Authorization: Bearer abc.def-123456", "abc.def-123456" },
        { "authorization lower case token scheme", "authorization: token s3cr3tvalue", "s3cr3tvalue" },
        { "Proxy-Authorization Basic", "Proxy-Authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy" },
        { "Authorization without scheme", "Authorization: opaque-credential-42", "opaque-credential-42" },
        { "Digest parameters", "Authorization: Digest username=\"bob\", response=\"6629fae49393a05397450978507c4ef1\"", "6629fae49393a05397450978507c4ef1" },
        { "curl -H Authorization in a command line", "curl -H 'Authorization: Bearer sk_live_51H8' https://api.test/x", "sk_live_51H8" },
        { "git extraheader (checkout)", GitExtraheader(Ghs), Basic64(Ghs) },
        { "git extraheader, the token itself", GitExtraheader(Ghs), Ghs },
        { "Cookie header", "Cookie: session=0123456789abcdef; theme=dark", "0123456789abcdef" },
        { "Set-Cookie header", "Set-Cookie: sid=deadbeefcafe; Path=/; HttpOnly", "deadbeefcafe" },
        { "curl -b cookie", "curl -b sid=feedface01 https://a.test/", "feedface01" },
        { "curl --cookie", "curl --cookie 'sid=feedface02' https://a.test/", "feedface02" },
        { "curl -u user:password", "curl -u alice:hunter2pass https://a.test/", "hunter2pass" },
        { "URL password", "git clone https://alice:hunter3pass@git.test/repo.git", "hunter3pass" },
        { "URL x-access-token", $"git remote add origin https://x-access-token:{Ghs}@github.com/acme/web", Ghs },
        { "URL token as user name", "https://0123456789abcdef0123456789abcdef@git.test/r", "0123456789abcdef0123456789abcdef" },
        { "x-access-token outside a URL", "echo x-access-token:opaque123456", "opaque123456" },
        { "query token", "/upload?token=abc123&name=report", "abc123" },
        { "query access_token", "https://api.test/v1?access_token=zzz999", "zzz999" },
        { "query key", "/maps?key=AIzaSyA-1234", "AIzaSyA-1234" },
        { "query secret", "/cb?client_secret=s3cret-value", "s3cret-value" },
        { "query password", "/login?user=bob&password=pa55word", "pa55word" },
        { "query sig (Azure SAS)", "/blob/x.zip?sv=2021-08-06&sig=AbCdEf%2Bgh%3D&se=2030", "AbCdEf%2Bgh%3D" },
        { "query signature (S3)", "/o?X-Amz-Signature=f00dbabe1234&X-Amz-Credential=AKIAXX%2F2024", "f00dbabe1234" },
        { "query code (OAuth)", "/callback?code=4%2F0AeanS0a&state=xyz", "4%2F0AeanS0a" },
        { "percent-encoded parameter name", "/x?acc%65ss_token=leaked77", "leaked77" },
        { "ghs_ anywhere", $"fetching with {Ghs} now", Ghs },
        { "ghp_ in a DNS label", $"{Ghp.ToLowerInvariant()}.exfil.test", Ghp.ToLowerInvariant() },
        { "github_pat_ anywhere", $"token={Pat}", Pat },
        { "github_pat_ in a path", $"/api/{Pat}/x", Pat },
        { "JWT (OIDC request token)", $"curl -H \"x: {Jwt}\" https://a.test", Jwt },
        { "npm token", "//registry.npmjs.org/:_authToken=npm_abcdefghijklmnopqrstuvwxyz0123456789", "npm_abcdefghijklmnopqrstuvwxyz0123456789" },
        { "env assignment", $"env GITHUB_TOKEN={Ghs.Replace("ghs_", "zz_", StringComparison.Ordinal)} ./deploy.sh", Ghs.Replace("ghs_", "zz_", StringComparison.Ordinal) },
        { "--password=", "docker login --password=Sup3rSecret -u bob", "Sup3rSecret" },
        { "--token VALUE", "gh auth login --token opaqueTokenValue7 --hostname github.com", "opaqueTokenValue7" },
        { "JSON token", "{\"token\": \"opaque-json-token\", \"user\": \"bob\"}", "opaque-json-token" },
        { "base64 of x-access-token alone", $"echo {Basic64(Ghs)} | base64 -d", Basic64(Ghs) },
        { "base64 of a ghp token in a path", $"/upload/{Convert.ToBase64String(Encoding.UTF8.GetBytes(Ghp))}", Convert.ToBase64String(Encoding.UTF8.GetBytes(Ghp)) },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Redact_RemovesTheSecret(string name, string input, string secret)
    {
        var output = SecretRedactor.Redact(input);
        Assert.False(output.Contains(secret, StringComparison.Ordinal), $"{name}: '{secret}' survived in '{output}'");
        Assert.Contains(SecretRedactor.Mask, output, StringComparison.Ordinal);
        Assert.Equal(output, SecretRedactor.Redact(output));
    }

    [Theory]
    [InlineData("curl -sS https://allowed.test/upload")]
    [InlineData("/usr/bin/git fetch --depth=1 origin main")]
    [InlineData("/home/runner/work/web/web/src/components/HeaderNavigation.tsx")]
    [InlineData("allowed-endpoints: github.com:443")]
    [InlineData("registry.npmjs.org")]
    [InlineData("/repos/acme/web/issues?state=open&per_page=100")]
    [InlineData("node /home/runner/work/_actions/actions/checkout/v4/dist/index.js")]
    [InlineData("dotnet build -c Release --no-restore")]
    [InlineData("The firewall table inet harden_runner was changed by a job step (chain removed); it was re-applied.")]
    [InlineData("sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
    public void Redact_OrdinaryText_IsUnchanged(string text) => Assert.Equal(text, SecretRedactor.Redact(text));

    [Fact]
    public void Redact_GitExtraheader_KeepsTheCommandReadable()
    {
        var output = SecretRedactor.Redact("/usr/bin/git -c " + GitExtraheader(Ghs) + " fetch --no-tags --depth=1 origin +refs/heads/main");
        Assert.Equal("/usr/bin/git -c http.https://github.com/.extraheader=AUTHORIZATION: basic [REDACTED] fetch --no-tags --depth=1 origin +refs/heads/main", output);
    }

    [Fact]
    public void Redact_QueryString_KeepsHarmlessParameters()
    {
        Assert.Equal("/upload?name=report&token=[REDACTED]&page=2", SecretRedactor.Redact("/upload?name=report&token=abc123&page=2"));
    }

    [Fact]
    public void Redact_TokenShape_KeepsItsPrefix()
    {
        Assert.Equal("token ghs_[REDACTED] used", SecretRedactor.Redact($"token {Ghs} used"));
    }

    [Theory]
    [InlineData("Authorization", true)]
    [InlineData("cookie", true)]
    [InlineData("X-Api-Key", true)]
    [InlineData("access_token", true)]
    [InlineData("--password", true)]
    [InlineData("sig", true)]
    [InlineData("code", true)]
    [InlineData("GITHUB_TOKEN", true)]
    [InlineData("name", false)]
    [InlineData("page", false)]
    [InlineData("table", false)]
    [InlineData("repaired", false)]
    public void IsSecretName(string name, bool expected) => Assert.Equal(expected, SecretRedactor.IsSecretName(name));

    [Fact]
    public void RedactNamedValue_SecretNameHidesTheWholeValue()
    {
        Assert.Equal(SecretRedactor.Mask, SecretRedactor.RedactNamedValue("Authorization", "anything at all"));
        Assert.Equal("/plain", SecretRedactor.RedactNamedValue("path", "/plain"));
    }

    [Fact]
    public void Redact_HugeInput_StaysFastAndSafe()
    {
        var huge = string.Concat(Enumerable.Repeat("a=b&", 50_000)) + "token=zzz" + new string('x', 100_000);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var output = SecretRedactor.Redact(huge);
        Assert.DoesNotContain("token=zzz", output, StringComparison.Ordinal);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
    }

    private static string Basic64(string token) => Convert.ToBase64String(Encoding.UTF8.GetBytes("x-access-token:" + token));

    private static string GitExtraheader(string token) => $"http.https://github.com/.extraheader=AUTHORIZATION: basic {Basic64(token)}";
}
