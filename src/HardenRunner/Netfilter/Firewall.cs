using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using HardenRunner.Events;
using HardenRunner.Policy;

namespace HardenRunner.Netfilter;

/// <summary>
/// The appliance's firewall: applies the table (one transaction), keeps the dynamic allow sets (batched nft calls),
/// checks the table every few seconds and repairs it (with a <c>firewall-tampered</c> detection) when a job step
/// changed or deleted it, and deletes it at stop. The table does not depend on this process: if the process dies,
/// the table stays, and in block mode egress stays closed. <see cref="DisposeAsync"/> stops the background work but
/// leaves the table; only <see cref="RemoveAsync"/> deletes it.
/// </summary>
public sealed class Firewall : IEgressAllowList, IAsyncDisposable
{
    public const string TamperDetection = "firewall-tampered";

    private const int MaxRequestsPerBatch = 256;

    /// <summary>Longest time <see cref="Allow"/> waits for its nft call.</summary>
    public static readonly TimeSpan AllowTimeout = TimeSpan.FromSeconds(10);

    private FirewallOptions _options;
    private readonly INftables _nft;
    private readonly IEventSink _events;
    private readonly TimeProvider _time;
    private readonly DynamicAllowTracker _tracker;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly BlockingCollection<PendingAllow> _pending = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _writer;
    private Task? _verifier;
    private RulesetSnapshot? _baseline;
    private volatile bool _applied;
    private object? _policyTag;
    private bool _switchPending; // a policy switch whose table could not be applied: the verifier retries it
    private long _tamperCount;
    private long _verifyErrors;
    private long _allowFailures;
    private long _nftBatches;

    public Firewall(FirewallOptions options, INftables nft, IEventSink events, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(nft);
        ArgumentNullException.ThrowIfNull(events);
        options.Validate();
        _options = options;
        _nft = nft;
        _events = events;
        _time = time ?? TimeProvider.System;
        _tracker = new DynamicAllowTracker(options.AllowTtlFloor, options.AllowTtlCap, _time);
        _writer = new Thread(WriteLoop) { IsBackground = true, Name = "firewall-allow" };
        _writer.Start();
    }

    public FirewallOptions Options => _options;

    /// <summary>How many times verification found the table changed (and re-applied it).</summary>
    public long TamperCount => Interlocked.Read(ref _tamperCount);

    /// <summary>Verification rounds that failed to run (nft errors); the next round retries.</summary>
    public long VerifyErrors => Interlocked.Read(ref _verifyErrors);

    /// <summary>Blocking allows (<see cref="Allow"/>) that failed or timed out.</summary>
    public long AllowFailures => Interlocked.Read(ref _allowFailures);

    /// <summary>nft calls made for dynamic allows (each carries one or more requests).</summary>
    public long AllowBatches => Interlocked.Read(ref _nftBatches);

    /// <summary>Applies the whole table atomically (replacing an older one) and starts the periodic verification.</summary>
    public async Task ApplyAsync(CancellationToken cancellationToken = default)
    {
        if (_stop.IsCancellationRequested)
        {
            throw new InvalidOperationException("this firewall was removed or disposed; create a new one");
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await ApplyLockedAsync(cancellationToken).ConfigureAwait(false);
            _applied = true;
        }
        finally
        {
            _gate.Release();
        }

        _verifier ??= Task.Run(VerifyLoopAsync, CancellationToken.None);
    }

    /// <summary>
    /// Blocks until the allow is in place (at most <see cref="AllowTimeout"/>; then or on an nft error it throws, so a
    /// DNS answer relying on it fails closed). Returns at once when the elements are already in place. Prefer
    /// <see cref="AllowAsync(IPAddress, IReadOnlyList{PortGrant}, TimeSpan, CancellationToken)"/>, which does not hold a thread.
    /// </summary>
    public void Allow(IPAddress address, IReadOnlyList<PortGrant> grants, TimeSpan ttl)
    {
        var task = AllowAsync(address, grants, ttl);
        bool done;
        try
        {
            done = task.Wait(AllowTimeout);
        }
        catch (AggregateException)
        {
            done = true;
        }

        if (!done || task.IsFaulted)
        {
            Interlocked.Increment(ref _allowFailures);
        }

        if (!done)
        {
            throw new TimeoutException($"the allow for {address} was not in place after {AllowTimeout.TotalSeconds:0} s");
        }

        task.GetAwaiter().GetResult(); // rethrows the original exception of a failed allow
    }

    /// <summary>
    /// Allows <paramref name="address"/> on each granted port and transport for the TTL (clamped to the floor and
    /// cap). Completes when the elements are in the kernel — at once when they already are for long enough, and for
    /// TCP to ports 80 and 443, which the table sends to the proxy without consulting the allow sets
    /// (<see cref="NftRulesetBuilder.ConsultsAllowSets"/>). Concurrent calls are batched into one nft transaction.
    /// </summary>
    public Task AllowAsync(IPAddress address, IReadOnlyList<PortGrant> grants, TimeSpan ttl, CancellationToken cancellationToken = default) =>
        AllowAsync(address, grants, ttl, policyTag: null, cancellationToken);

    /// <summary>
    /// As <see cref="AllowAsync(IPAddress, IReadOnlyList{PortGrant}, TimeSpan, CancellationToken)"/>, for an allow
    /// decided under the policy <paramref name="policyTag"/> stands for: once <see cref="ReplacePolicyAsync"/> put
    /// another policy in force, such an allow is refused (it fails with <see cref="PolicyReplacedException"/>), so an
    /// answer resolved under the old policy never enters the new policy's sets. Null: no such check.
    /// </summary>
    public Task AllowAsync(IPAddress address, IReadOnlyList<PortGrant> grants, TimeSpan ttl, object? policyTag, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(grants);
        if (!_applied)
        {
            return Task.FromException(new InvalidOperationException("the firewall table is not applied"));
        }

        // TCP to the web ports goes to the proxy and is accepted before the allow sets: nothing to add, nothing to wait for
        if (!grants.Any(NftRulesetBuilder.ConsultsAllowSets))
        {
            return Task.CompletedTask;
        }

        List<AllowElementTimeout> needed;
        try
        {
            needed = _tracker.Needed(grants.Where(NftRulesetBuilder.ConsultsAllowSets).Select(g => new AllowElement(address, g.Transport, g.Port)), ttl);
        }
        catch (ArgumentException e)
        {
            return Task.FromException(e);
        }

        if (needed.Count == 0)
        {
            return Task.CompletedTask;
        }

        if (IsStale(policyTag))
        {
            return Task.FromException(new PolicyReplacedException());
        }

        var request = new PendingAllow(needed, policyTag);
        try
        {
            _pending.Add(request, CancellationToken.None);
        }
        catch (InvalidOperationException)
        {
            return Task.FromException(new ObjectDisposedException(nameof(Firewall)));
        }

        return cancellationToken.CanBeCanceled ? request.Done.Task.WaitAsync(cancellationToken) : request.Done.Task;
    }

    /// <summary>
    /// Puts another policy's table in force in one transaction (a policy switch in service mode): the new options,
    /// with empty allow sets (the caller allows again what the new policy allows, e.g. from the DNS cache). Flows
    /// already established keep going (conntrack); from now on an allow tagged with another policy than
    /// <paramref name="policyTag"/> is refused. Verification compares against the new table from then on.
    /// </summary>
    public async Task ReplacePolicyAsync(FirewallOptions options, object? policyTag, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_applied)
            {
                throw new InvalidOperationException("the firewall table is not applied");
            }

            _options = options;
            Volatile.Write(ref _policyTag, policyTag);
            _tracker.Clear();
            try
            {
                await ApplyLockedAsync(cancellationToken).ConfigureAwait(false);
                _switchPending = false;
            }
            catch
            {
                // the old table may still be in force: the verifier applies the new one at its next round
                _switchPending = true;
                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Compares the table with what was applied. On a difference (or a missing table) re-applies it, keeping the
    /// dynamic elements, publishes a <c>firewall-tampered</c> detection and returns the reason; null when intact.
    /// </summary>
    public async Task<string?> VerifyAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_applied || _baseline is null)
            {
                return null;
            }

            if (_switchPending)
            {
                await ApplyLockedAsync(cancellationToken).ConfigureAwait(false);
                _switchPending = false;
                return null;
            }

            var reason = await FindTamperingAsync(cancellationToken).ConfigureAwait(false);
            if (reason is null)
            {
                return null;
            }

            Interlocked.Increment(ref _tamperCount);
            var repaired = true;
            var error = "";
            try
            {
                await ApplyLockedAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (NftablesException e)
            {
                repaired = false;
                error = e.Message;
            }

            var evidence = new Dictionary<string, string>
            {
                ["table"] = NftNames.QualifiedTable,
                ["change"] = reason,
                ["repaired"] = repaired ? "true" : "false",
            };
            if (!repaired)
            {
                evidence["error"] = error;
            }

            _events.Publish(new DetectionEvent(
                _time.GetUtcNow(),
                TamperDetection,
                "high",
                repaired
                    ? $"The firewall table {NftNames.QualifiedTable} was changed by a job step ({reason}); it was re-applied."
                    : $"The firewall table {NftNames.QualifiedTable} was changed by a job step ({reason}); re-applying it failed.",
                evidence));
            return reason;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Packets counted by a named counter of the table (<see cref="NftNames.GuardUnredirected"/>, <see cref="NftNames.GuardLoop"/>).</summary>
    public async Task<long> ReadCounterAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name is not (NftNames.GuardUnredirected or NftNames.GuardLoop))
        {
            throw new ArgumentException($"unknown counter '{name}'", nameof(name));
        }

        var json = await _nft.RunAsync($"list counter {NftNames.QualifiedTable} {name}\n", NftOutput.Json, cancellationToken).ConfigureAwait(false);
        var items = JsonNode.Parse(json)?["nftables"] as JsonArray ?? [];
        foreach (var item in items)
        {
            if (item?["counter"]?["packets"] is JsonValue v && v.TryGetValue<long>(out var packets))
            {
                return packets;
            }
        }

        throw new NftablesException($"counter {name} not found in nft output");
    }

    /// <summary>Stops verification and deletes the table (only <c>inet harden_runner</c>). Call at stop.</summary>
    public async Task RemoveAsync(CancellationToken cancellationToken = default)
    {
        await StopVerificationAsync().ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _applied = false;
            _baseline = null;
            await _nft.RunAsync(NftRulesetBuilder.BuildRemove(), NftOutput.None, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops the background work. Leaves the table in place (fail-closed); call <see cref="RemoveAsync"/> to delete it.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopVerificationAsync().ConfigureAwait(false);
        _pending.CompleteAdding();
        await Task.Run(_writer.Join).ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task StopVerificationAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync().ConfigureAwait(false);
        }

        if (_verifier is { } v)
        {
            await v.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task ApplyLockedAsync(CancellationToken cancellationToken)
    {
        var keep = _tracker.Live();
        var script = NftRulesetBuilder.Build(_options, keep);
        await _nft.RunAsync(script, NftOutput.None, cancellationToken).ConfigureAwait(false);
        var listing = await _nft.RunAsync(NftRulesetBuilder.BuildList(), NftOutput.Json | NftOutput.Stateless, cancellationToken).ConfigureAwait(false);
        _baseline = RulesetSnapshot.Parse(listing);
    }

    private async Task<string?> FindTamperingAsync(CancellationToken cancellationToken)
    {
        string listing;
        try
        {
            listing = await _nft.RunAsync(NftRulesetBuilder.BuildList(), NftOutput.Json | NftOutput.Stateless, cancellationToken).ConfigureAwait(false);
        }
        catch (NftablesException e) when (e.IsNotFound)
        {
            return "table deleted";
        }

        var actual = RulesetSnapshot.Parse(listing);
        var difference = RulesetSnapshot.Compare(_baseline!, actual);
        if (difference is not null)
        {
            return "ruleset changed: " + difference;
        }

        var unexpected = _tracker.Unexpected(actual.DynamicElements);
        return unexpected.Count == 0
            ? null
            : $"{unexpected.Count} allow-set element(s) not added by the appliance, first: {unexpected[0]}";
    }

    private async Task VerifyLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.VerifyInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                try
                {
                    await VerifyAsync(_stop.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is NftablesException or FormatException or System.Text.Json.JsonException)
                {
                    Interlocked.Increment(ref _verifyErrors);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    // A dedicated thread (not the thread pool): a caller blocked in Allow must never wait for a pool thread.
    private void WriteLoop()
    {
        var batch = new List<PendingAllow>();
        while (_pending.TryTake(out var first, Timeout.Infinite))
        {
            batch.Clear();
            batch.Add(first);
            while (batch.Count < MaxRequestsPerBatch && _pending.TryTake(out var more))
            {
                batch.Add(more);
            }

            var merged = new Dictionary<AllowElement, TimeSpan>();
            foreach (var r in batch)
            {
                foreach (var (e, timeout) in r.Elements)
                {
                    merged[e] = merged.TryGetValue(e, out var t) && t > timeout ? t : timeout;
                }
            }

            var elements = merged.Select(kv => new AllowElementTimeout(kv.Key, kv.Value)).ToList();
            Exception? failure = null;
            _gate.Wait();
            try
            {
                if (!_applied)
                {
                    throw new InvalidOperationException("the firewall table is not applied");
                }

                // allows decided under a policy that was replaced while they waited are refused, not installed
                var stale = batch.FindAll(r => IsStale(r.PolicyTag));
                if (stale.Count > 0)
                {
                    foreach (var r in stale)
                    {
                        r.Done.TrySetException(new PolicyReplacedException());
                    }

                    batch.RemoveAll(r => stale.Contains(r));
                    merged.Clear();
                    foreach (var r in batch)
                    {
                        foreach (var (e, timeout) in r.Elements)
                        {
                            merged[e] = merged.TryGetValue(e, out var t) && t > timeout ? t : timeout;
                        }
                    }

                    elements = merged.Select(kv => new AllowElementTimeout(kv.Key, kv.Value)).ToList();
                }

                if (elements.Count > 0)
                {
                    var started = _tracker.Now;
                    _nft.RunAsync(NftRulesetBuilder.BuildAddElements(elements)).GetAwaiter().GetResult();
                    Interlocked.Increment(ref _nftBatches);
                    _tracker.Committed(elements, started);
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
            finally
            {
                _gate.Release();
            }

            foreach (var r in batch)
            {
                if (failure is null)
                {
                    r.Done.TrySetResult();
                }
                else
                {
                    r.Done.TrySetException(failure);
                }
            }
        }
    }

    private bool IsStale(object? policyTag) =>
        policyTag is not null && Volatile.Read(ref _policyTag) is { } current && !ReferenceEquals(current, policyTag);

    private sealed class PendingAllow(List<AllowElementTimeout> elements, object? policyTag)
    {
        public List<AllowElementTimeout> Elements { get; } = elements;

        public object? PolicyTag { get; } = policyTag;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
