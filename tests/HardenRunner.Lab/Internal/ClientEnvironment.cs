using System.Collections;
using System.Diagnostics;

namespace HardenRunner.Lab.Internal;

/// <summary>
/// The environment of processes the lab starts: the test process's own, minus proxy settings (nothing in the lab
/// could reach a proxy) and CA-bundle overrides (the lab tests the system trust store the appliance manages), plus
/// the caller's variables (a null value removes one).
/// </summary>
internal static class ClientEnvironment
{
    private static readonly string[] Removed =
    [
        "http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
        "GIT_SSL_CAINFO", "PIP_CERT", "AWS_CA_BUNDLE", "HTTPLIB2_CA_CERTS", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
        "NIX_SSL_CERT_FILE", "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", "GITHUB_ENV", "GITHUB_STEP_SUMMARY",
    ];

    public static void Apply(ProcessStartInfo info, IEnumerable<KeyValuePair<string, string?>>? overrides)
    {
        var target = info.Environment;
        target.Clear();
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            var name = (string)entry.Key;
            if (!Removed.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                target[name] = (string?)entry.Value;
            }
        }

        foreach (var (name, value) in overrides ?? [])
        {
            if (value is null)
            {
                target.Remove(name);
            }
            else
            {
                target[name] = value;
            }
        }
    }
}
