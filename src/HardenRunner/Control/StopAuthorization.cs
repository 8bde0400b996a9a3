using System.Security.Cryptography;
using System.Text;

namespace HardenRunner.Control;

/// <summary>
/// Who may stop the appliance through the control socket: root always; another user only with the stop token
/// that the appliance was started with (<c>HARDEN_RUNNER_STOP_TOKEN</c>). The GitHub Action makes a random token
/// in its main step and hands it to its post step only (through the runner's step state), so a job step that has
/// lost sudo cannot end enforcement early. Only the token's SHA-256 is kept; comparison is constant-time.
/// </summary>
public sealed class StopAuthorization
{
    /// <summary>Shortest accepted token (characters).</summary>
    public const int MinimumTokenLength = 16;

    private readonly byte[]? _tokenHash;

    public StopAuthorization(string? token)
    {
        if (token is not null)
        {
            if (token.Length < MinimumTokenLength || token.Length > 100 || token.Any(c => c is <= ' ' or > '~'))
            {
                throw new ArgumentException($"the stop token must be {MinimumTokenLength} to 100 printable ASCII characters without spaces", nameof(token));
            }

            _tokenHash = SHA256.HashData(Encoding.ASCII.GetBytes(token));
        }
    }

    /// <summary>Whether non-root callers can ever stop the appliance (the control socket is then open to all users).</summary>
    public bool HasToken => _tokenHash is not null;

    /// <summary>True for <c>stop</c> / <c>stop TOKEN</c>.</summary>
    public static bool IsStop(string command) =>
        command == "stop" || command.StartsWith("stop ", StringComparison.Ordinal);

    /// <summary>Null when the request may stop the appliance, else why not.</summary>
    public string? Refusal(ControlRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.PeerUid == 0)
        {
            return null;
        }

        if (_tokenHash is null)
        {
            return "only root may stop this appliance";
        }

        var given = request.Command.Length > 5 ? request.Command[5..].Trim() : "";
        return given.Length > 0 && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.ASCII.GetBytes(given)), _tokenHash)
            ? null
            : "a valid stop token is required";
    }
}
