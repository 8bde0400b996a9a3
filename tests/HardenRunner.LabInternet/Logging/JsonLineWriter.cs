using System.Text.Json;
using HardenRunner.Lab.Contract;

namespace HardenRunner.LabInternet.Logging;

/// <summary>Appends one JSON object per line and flushes each line, so a reader sees every record at once.</summary>
internal sealed class JsonLineWriter : IDisposable
{
    private readonly Lock _lock = new();
    private readonly FileStream _stream;

    public JsonLineWriter(string path)
    {
        _stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
    }

    public void Write<T>(T record)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(record, LabJson.Options);
        lock (_lock)
        {
            // one write call per line: a concurrent reader sees either nothing or the whole line
            var line = new byte[json.Length + 1];
            json.CopyTo(line, 0);
            line[^1] = (byte)'\n';
            _stream.Write(line);
            _stream.Flush();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _stream.Dispose();
        }
    }
}
