namespace HardenRunner.Tls;

/// <summary>Settings of the <see cref="EphemeralCertificateAuthority"/>.</summary>
public sealed record CertificateAuthorityOptions
{
    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromHours(24);

    /// <summary>The most a CA may live: it is meant to be short-lived, and a leaked certificate must expire.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromDays(30);

    /// <summary>How far validity starts in the past, for clients whose clocks run slightly behind.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    /// <summary>How long the CA is valid from now; leaves never outlive it. Default 24 h, at most <see cref="MaxLifetime"/>.</summary>
    public TimeSpan Lifetime { get; init; } = DefaultLifetime;

    /// <summary>How many names keep a cached server context; the oldest are dropped beyond that.</summary>
    public int CacheCapacity { get; init; } = 10_000;

    /// <summary>
    /// Text that names this CA in its subject (a run id, say): letters, digits, '-', '_', '.', ':' and spaces, at most
    /// 38 characters. Null means the UTC start time.
    /// </summary>
    public string? Label { get; init; }

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
