namespace HardenRunner.Proxy.GitHub;

/// <summary>
/// A read-only pass-through over a request body that keeps a copy of its first <c>limit</c> bytes as they are read by
/// the forwarder. Nothing is read ahead or held back: the upstream gets every byte when it would have without it.
/// <see cref="Complete"/> is true when the whole body was read and fitted in the copy.
/// </summary>
internal sealed class PrefixCaptureStream(Stream inner, int limit) : Stream
{
    private readonly byte[] _copy = new byte[limit];
    private int _length;
    private bool _overflow;
    private bool _ended;

    public ReadOnlySpan<byte> Captured => _copy.AsSpan(0, _length);

    public bool Complete => _ended && !_overflow;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Keep(buffer.AsSpan(offset, inner.Read(buffer, offset, count)));

    public override int Read(Span<byte> buffer) => Keep(buffer[..inner.Read(buffer)]);

    public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Keep(buffer.AsSpan(offset, await inner.ReadAsync(buffer.AsMemory(offset, count), cancellationToken).ConfigureAwait(false)));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Keep(buffer.Span[..n]);
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private int Keep(ReadOnlySpan<byte> read)
    {
        if (read.Length == 0)
        {
            _ended = true;
            return 0;
        }

        var room = _copy.Length - _length;
        if (read.Length > room)
        {
            _overflow = true;
        }

        var take = Math.Min(room, read.Length);
        read[..take].CopyTo(_copy.AsSpan(_length));
        _length += take;
        return read.Length;
    }
}
