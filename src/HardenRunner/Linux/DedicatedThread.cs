using System.Collections.Concurrent;

namespace HardenRunner.Linux;

/// <summary>
/// One OS thread that runs work items in order. Used for state that belongs to a thread: a libnftables context
/// (not thread-safe) and, in tests, a network namespace entered with setns before the first work item.
/// </summary>
public sealed class DedicatedThread : IDisposable
{
    private readonly BlockingCollection<Action> _work = [];
    private readonly Thread _thread;
    private readonly string? _networkNamespace;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <param name="name">Thread name (diagnostics).</param>
    /// <param name="networkNamespace">A namespace path (or <c>ip netns</c> name) to enter first; null keeps the process's namespace.</param>
    public DedicatedThread(string name, string? networkNamespace = null)
    {
        _networkNamespace = networkNamespace is null ? null : NetworkNamespace.PathOf(networkNamespace);
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
        _started.Task.GetAwaiter().GetResult(); // surfaces a failed setns here, in the constructor
    }

    /// <summary>Runs <paramref name="work"/> on the thread; the task completes with its result or exception.</summary>
    public Task<T> InvokeAsync<T>(Func<T> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            _work.Add(() =>
            {
                try
                {
                    tcs.SetResult(work());
                }
                catch (Exception e)
                {
                    tcs.SetException(e);
                }
            });
        }
        catch (InvalidOperationException)
        {
            throw new ObjectDisposedException(nameof(DedicatedThread));
        }

        return tcs.Task;
    }

    public void Dispose()
    {
        try
        {
            _work.CompleteAdding();
        }
        catch (ObjectDisposedException)
        {
            return;
        }

        if (Thread.CurrentThread != _thread)
        {
            _thread.Join();
            _work.Dispose();
        }
    }

    private void Run()
    {
        try
        {
            if (_networkNamespace is not null)
            {
                NetworkNamespace.EnterOnCurrentThread(_networkNamespace);
            }
        }
        catch (Exception e)
        {
            _work.CompleteAdding();
            _started.SetException(e);
            return;
        }

        _started.SetResult();
        foreach (var item in _work.GetConsumingEnumerable())
        {
            item();
        }
    }
}
