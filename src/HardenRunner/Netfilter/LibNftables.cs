using System.Runtime.InteropServices;
using HardenRunner.Linux;

namespace HardenRunner.Netfilter;

/// <summary>
/// nft through libnftables (P/Invoke, <c>libnftables.so.1</c>). One context lives on one dedicated thread (the
/// library is not thread-safe, and a network namespace is per thread), so commands run one at a time in order.
/// In production the thread stays in the process's namespace; tests pass a namespace so nothing touches the host.
/// </summary>
public sealed partial class LibNftables : INftables, IDisposable
{
    private const string Library = "libnftables.so.1";

    private readonly DedicatedThread _thread;
    private readonly nint _ctx;
    private bool _disposed;

    /// <param name="networkNamespace">Null: the process's namespace. Otherwise a path or <c>ip netns</c> name (tests).</param>
    public LibNftables(string? networkNamespace = null)
    {
        _thread = new DedicatedThread("nftables", networkNamespace);
        try
        {
            _ctx = _thread.InvokeAsync(CreateContext).GetAwaiter().GetResult();
        }
        catch
        {
            _thread.Dispose();
            throw;
        }
    }

    public Task<string> RunAsync(string commands, NftOutput output = NftOutput.None, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(commands);
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _thread.InvokeAsync(() => Run(commands, output, dryRun: false));
    }

    public Task CheckAsync(string commands, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(commands);
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _thread.InvokeAsync(() => Run(commands, NftOutput.None, dryRun: true));
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            _thread.InvokeAsync(() =>
            {
                NftCtxFree(_ctx);
                return 0;
            }).GetAwaiter().GetResult();
        }
        finally
        {
            _thread.Dispose();
        }
    }

    private static nint CreateContext()
    {
        var ctx = NftCtxNew(0);
        if (ctx == 0)
        {
            throw new NftablesException("nft_ctx_new failed");
        }

        if (NftCtxBufferOutput(ctx) != 0 || NftCtxBufferError(ctx) != 0)
        {
            NftCtxFree(ctx);
            throw new NftablesException("nft_ctx_buffer_output/error failed");
        }

        return ctx;
    }

    private string Run(string commands, NftOutput output, bool dryRun)
    {
        NftCtxOutputSetFlags(_ctx, (uint)output);
        NftCtxSetDryRun(_ctx, dryRun);
        var rc = NftRunCmdFromBuffer(_ctx, commands);
        var stdout = Marshal.PtrToStringUTF8(NftCtxGetOutputBuffer(_ctx)) ?? "";
        var stderr = Marshal.PtrToStringUTF8(NftCtxGetErrorBuffer(_ctx)) ?? "";
        if (rc != 0)
        {
            throw new NftablesException(stderr.Length > 0 ? stderr.TrimEnd() : $"nft failed (rc {rc}) without an error message");
        }

        return stdout;
    }

    [LibraryImport(Library, EntryPoint = "nft_ctx_new")]
    private static partial nint NftCtxNew(uint flags);

    [LibraryImport(Library, EntryPoint = "nft_ctx_free")]
    private static partial void NftCtxFree(nint ctx);

    [LibraryImport(Library, EntryPoint = "nft_ctx_buffer_output")]
    private static partial int NftCtxBufferOutput(nint ctx);

    [LibraryImport(Library, EntryPoint = "nft_ctx_buffer_error")]
    private static partial int NftCtxBufferError(nint ctx);

    [LibraryImport(Library, EntryPoint = "nft_ctx_get_output_buffer")]
    private static partial nint NftCtxGetOutputBuffer(nint ctx);

    [LibraryImport(Library, EntryPoint = "nft_ctx_get_error_buffer")]
    private static partial nint NftCtxGetErrorBuffer(nint ctx);

    [LibraryImport(Library, EntryPoint = "nft_ctx_output_set_flags")]
    private static partial void NftCtxOutputSetFlags(nint ctx, uint flags);

    [LibraryImport(Library, EntryPoint = "nft_ctx_set_dry_run")]
    private static partial void NftCtxSetDryRun(nint ctx, [MarshalAs(UnmanagedType.U1)] bool dry);

    [LibraryImport(Library, EntryPoint = "nft_run_cmd_from_buffer", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NftRunCmdFromBuffer(nint ctx, string buffer);
}
