using System.Diagnostics;
using System.Text;
using HardenRunner.Lab.Internal;

namespace HardenRunner.Lab;

/// <summary>
/// A process the lab started (a client or the appliance): its output is captured (up to 8 MiB per stream), it can
/// be signalled by PID and awaited. The lab kills it at dispose if it is still running.
/// </summary>
public sealed class LabProcess : IAsyncDisposable
{
    private const int MaxCapture = 8 << 20;
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);

    private readonly Process _process;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Capture _stdout = new();
    private readonly Capture _stderr = new();
    private readonly Task _stdoutPump;
    private readonly Task _stderrPump;
    private int _disposed;

    private LabProcess(Process process, string description)
    {
        _process = process;
        Description = description;
        Pid = process.Id;
        _stdoutPump = _stdout.PumpAsync(process.StandardOutput.BaseStream);
        _stderrPump = _stderr.PumpAsync(process.StandardError.BaseStream);
    }

    public int Pid { get; }

    /// <summary>The command line, for messages.</summary>
    public string Description { get; }

    public bool HasExited => IsDisposed || _process.HasExited;

    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Output captured so far.</summary>
    public string StandardOutput => _stdout.Text;

    public string StandardError => _stderr.Text;

    internal static LabProcess Start(string fileName, IEnumerable<string> arguments, IEnumerable<KeyValuePair<string, string?>>? environment, string? standardInput, string? workingDirectory)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        ClientEnvironment.Apply(info, environment);
        var description = string.Join(' ', info.ArgumentList.Prepend(fileName));
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new LabException($"could not start {description}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new LabException($"could not start {description}: {e.Message}", e);
        }

        var started = new LabProcess(process, description);
        try
        {
            if (standardInput is not null)
            {
                process.StandardInput.Write(standardInput);
            }

            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // the process exited before reading its input; its result will tell
        }

        return started;
    }

    /// <summary>Sends a signal (e.g. <see cref="Signals.SigTerm"/> = 15) unless the process has already exited.</summary>
    public bool Signal(int signal) => !HasExited && Signals.Send(Pid, signal);

    public bool Terminate() => Signal(Signals.SigTerm);

    public void Kill()
    {
        try
        {
            if (!HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }

    /// <summary>Waits for the exit; after <paramref name="timeout"/> the process is killed and TimedOut is set.</summary>
    public async Task<LabProcessResult> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var timedOut = false;
        using (var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            limit.CancelAfter(timeout);
            try
            {
                await _process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                timedOut = true;
                Kill();
                await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(DrainTimeout, CancellationToken.None).ConfigureAwait(false);
            }
        }

        // a background grandchild may hold the pipes open: do not wait for it forever
        await Task.WhenAny(Task.WhenAll(_stdoutPump, _stderrPump), Task.Delay(DrainTimeout, CancellationToken.None)).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return new LabProcessResult(_process.ExitCode, StandardOutput, StandardError, timedOut, _clock.Elapsed);
    }

    /// <summary>Kills the process if it still runs and releases it. Safe to call more than once.</summary>
    public async ValueTask DisposeAsync()
    {
        if (IsDisposed)
        {
            return;
        }

        Kill();
        try
        {
            await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(DrainTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // reported by the lab's namespace sweep
        }

        Volatile.Write(ref _disposed, 1);
        _process.Dispose();
    }

    public override string ToString() => $"pid {Pid}: {Description}";

    private sealed class Capture
    {
        private readonly Lock _lock = new();
        private readonly MemoryStream _bytes = new();

        public string Text
        {
            get
            {
                lock (_lock)
                {
                    return Encoding.UTF8.GetString(_bytes.GetBuffer(), 0, (int)_bytes.Length);
                }
            }
        }

        public async Task PumpAsync(Stream stream)
        {
            var buffer = new byte[16 * 1024];
            try
            {
                int read;
                while ((read = await stream.ReadAsync(buffer).ConfigureAwait(false)) > 0)
                {
                    lock (_lock)
                    {
                        var keep = (int)Math.Min(read, MaxCapture - _bytes.Length);
                        _bytes.Write(buffer, 0, keep);
                    }
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // the pipe closed with the process
            }
        }
    }
}
