namespace HardenRunner.Events;

/// <summary>
/// What the proxy noted about a request to a GitHub host that carried a credential (never the credential itself):
/// the kind of token (<see cref="InstallationToken"/> = a <c>ghs_</c> installation token such as the job's
/// GITHUB_TOKEN), the response status, GitHub's <c>X-Accepted-GitHub-Permissions</c> response header, and for
/// <c>POST /graphql</c> a summary of the operation. Used for the GITHUB_TOKEN permission recommendation.
/// </summary>
public sealed record GitHubCall(string Token, int? Status, string? AcceptedPermissions, GraphQlSummary? GraphQl)
{
    /// <summary>A <c>ghs_</c> installation token (GITHUB_TOKEN is one), in <c>token</c>/<c>Bearer</c> or Basic auth.</summary>
    public const string InstallationToken = "installation";

    /// <summary>Another GitHub token shape (<c>ghp_</c>, <c>github_pat_</c>, <c>gho_</c>, <c>ghu_</c>, <c>ghr_</c>).</summary>
    public const string PersonalToken = "personal";

    /// <summary>A credential that is not a GitHub token shape.</summary>
    public const string OtherCredential = "other";

    /// <summary>Longest accepted-permissions header value kept.</summary>
    public const int MaxHeaderLength = 512;
}

/// <summary>
/// A GraphQL request reduced to what decides its permissions: the operation type (query, mutation, subscription) and
/// the selected field paths (top-level fields, and below them up to depth 3, dotted, e.g. <c>repository.issues</c>),
/// plus the repositories named by literal <c>repository(owner:, name:)</c> arguments. <see cref="Error"/> says why the
/// body could not be summarised (then <see cref="Operation"/> is <c>unknown</c>). Argument values are never kept.
/// </summary>
public sealed record GraphQlSummary(string Operation, IReadOnlyList<string> Fields, IReadOnlyList<string> Repositories, string? Error = null)
{
    public const string Unknown = "unknown";

    /// <summary>Most field paths kept.</summary>
    public const int MaxFields = 64;
}
