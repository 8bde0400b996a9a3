namespace HardenRunner.Linux;

/// <summary>
/// Network namespaces are a property of a Linux thread (and of every socket, fixed when the socket is created).
/// Production code runs in the process's own namespace and never calls this; tests give a component a namespace
/// path so its dedicated thread enters that namespace before it creates netlink sockets.
/// </summary>
public static class NetworkNamespace
{
    /// <summary>Path of a named namespace created with <c>ip netns add</c>.</summary>
    public static string PathOf(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return name.Contains('/', StringComparison.Ordinal) ? name : "/var/run/netns/" + name;
    }

    /// <summary>
    /// Moves the calling thread into the network namespace at <paramref name="path"/>. Only for threads the caller
    /// created and owns for their whole life (never a thread-pool thread: it would carry the namespace to unrelated work).
    /// </summary>
    public static void EnterOnCurrentThread(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (Thread.CurrentThread.IsThreadPoolThread)
        {
            throw new InvalidOperationException("refusing to change the network namespace of a thread-pool thread");
        }

        var fd = LinuxInterop.Open(path, LinuxInterop.OReadOnly | LinuxInterop.OCloexec);
        if (fd < 0)
        {
            var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            throw new IOException($"cannot open network namespace {path}: {LinuxInterop.ErrorText(errno)}");
        }

        try
        {
            if (LinuxInterop.SetNs(fd, LinuxInterop.CloneNewNet) != 0)
            {
                var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                throw new IOException($"setns({path}) failed: {LinuxInterop.ErrorText(errno)}");
            }
        }
        finally
        {
            _ = LinuxInterop.Close(fd);
        }
    }
}
