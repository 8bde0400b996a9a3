using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace HardenRunner.Tests.Trust;

/// <summary>
/// One thread that lives in another mount and network namespace (the lab runner's), so the installer's file I/O and
/// the processes it starts (keytool) happen there. The thread first unshares its file-system context (setns into a
/// mount namespace is refused while it is shared with other threads), then enters both namespaces, then checks that
/// it really is in the target mount namespace before any work runs: nothing may reach the host's trust store.
/// </summary>
internal sealed class NamespaceThread : IDisposable
{
    private const int CloneFs = 0x00000200;
    private const int CloneNewNs = 0x00020000;
    private const int CloneNewNet = 0x40000000;

    private readonly BlockingCollection<Action> _work = [];
    private readonly Thread _thread;
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public NamespaceThread(string mountNamespacePath, string networkNamespacePath)
    {
        _thread = new Thread(() => Run(mountNamespacePath, networkNamespacePath)) { IsBackground = true, Name = "hr-trust-ns" };
        _thread.Start();
        _entered.Task.GetAwaiter().GetResult();
    }

    public Task<T> InvokeAsync<T>(Func<T> work)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            try
            {
                result.SetResult(work());
            }
            catch (Exception e)
            {
                result.SetException(e);
            }
        });
        return result.Task;
    }

    public void Dispose()
    {
        _work.CompleteAdding();
        _thread.Join(TimeSpan.FromSeconds(30));
        _work.Dispose();
    }

    private void Run(string mountNamespacePath, string networkNamespacePath)
    {
        try
        {
            Check(Unshare(CloneFs), "unshare(CLONE_FS)");
            Enter(mountNamespacePath, CloneNewNs);
            Enter(networkNamespacePath, CloneNewNet);
            var mine = new FileInfo($"/proc/self/task/{Gettid()}/ns/mnt").LinkTarget;
            var target = new FileInfo(mountNamespacePath).LinkTarget;
            var host = new FileInfo("/proc/self/ns/mnt").LinkTarget; // the main thread's
            if (mine is null || mine != target || mine == host)
            {
                throw new InvalidOperationException($"not in the lab's mount namespace (thread {mine}, lab {target}, host {host})");
            }
        }
        catch (Exception e)
        {
            _entered.SetException(e);
            return;
        }

        _entered.SetResult();
        foreach (var work in _work.GetConsumingEnumerable())
        {
            work();
        }
    }

    private static void Enter(string path, int type)
    {
        using var handle = File.OpenHandle(path);
        Check(Setns((int)handle.DangerousGetHandle(), type), $"setns({path})");
    }

    private static void Check(int result, string what)
    {
        if (result != 0)
        {
            throw new IOException($"{what} failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [DllImport("libc", EntryPoint = "unshare", SetLastError = true)]
    private static extern int Unshare(int flags);

    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static extern int Setns(int fd, int type);

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int Gettid();
}
