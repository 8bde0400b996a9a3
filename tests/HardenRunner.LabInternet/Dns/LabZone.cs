using System.Globalization;
using System.Net;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using HardenRunner.Lab.Contract;

namespace HardenRunner.LabInternet.Dns;

/// <summary>
/// The lab's authoritative data: exact names, <c>*.</c> wildcards (one or more labels, never the apex), CNAME
/// chasing inside the zone. A name with no record at all is NXDOMAIN; a name with records but none of the asked
/// type is NOERROR with an empty answer.
/// </summary>
internal sealed class LabZone
{
    private const int MaxCnameChain = 8;

    private readonly Dictionary<string, List<LabZoneRecord>> _byName = new(StringComparer.OrdinalIgnoreCase);

    public LabZone(IEnumerable<LabZoneRecord> records)
    {
        foreach (var record in records)
        {
            var type = record.Type.ToUpperInvariant();
            if (type is not ("A" or "AAAA" or "CNAME" or "TXT"))
            {
                throw new FormatException($"zone record {record.Name}: unsupported type '{record.Type}' (A, AAAA, CNAME, TXT)");
            }

            var key = Normalize(record.Name);
            if (!_byName.TryGetValue(key, out var list))
            {
                _byName[key] = list = [];
            }

            list.Add(record);
        }
    }

    public (ReturnCode Code, List<DnsRecordBase> Answers) Resolve(DomainName name, RecordType type)
    {
        var answers = new List<DnsRecordBase>();
        var current = name;
        for (var depth = 0; depth <= MaxCnameChain; depth++)
        {
            var records = Find(current.ToString());
            if (records is null)
            {
                // NXDOMAIN only when the queried name itself does not exist; a dangling CNAME target answers the chain
                return (depth == 0 ? ReturnCode.NxDomain : ReturnCode.NoError, answers);
            }

            var cname = records.FirstOrDefault(r => r.Type.Equals("CNAME", StringComparison.OrdinalIgnoreCase));
            if (cname is not null && type != RecordType.CName)
            {
                answers.Add(ToRecord(current, cname));
                current = DomainName.Parse(cname.Value);
                continue;
            }

            answers.AddRange(records.Where(r => Matches(r, type)).Select(r => ToRecord(current, r)));
            return (ReturnCode.NoError, answers);
        }

        return (ReturnCode.ServerFailure, answers);
    }

    private List<LabZoneRecord>? Find(string name)
    {
        var key = Normalize(name);
        if (_byName.TryGetValue(key, out var exact))
        {
            return exact;
        }

        // the most specific wildcard wins: for a.b.allowed.test try *.b.allowed.test, then *.allowed.test, …
        var dot = key.IndexOf('.', StringComparison.Ordinal);
        while (dot >= 0)
        {
            var suffix = key[(dot + 1)..];
            if (_byName.TryGetValue("*." + suffix, out var wild))
            {
                return wild;
            }

            dot = key.IndexOf('.', dot + 1);
        }

        return null;
    }

    private static bool Matches(LabZoneRecord record, RecordType type)
        => type == RecordType.Any || string.Equals(record.Type, TypeName(type), StringComparison.OrdinalIgnoreCase);

    private static string TypeName(RecordType type) => type switch
    {
        RecordType.A => "A",
        RecordType.Aaaa => "AAAA",
        RecordType.CName => "CNAME",
        RecordType.Txt => "TXT",
        _ => type.ToString(),
    };

    private static DnsRecordBase ToRecord(DomainName owner, LabZoneRecord record) => record.Type.ToUpperInvariant() switch
    {
        "A" => new ARecord(owner, record.Ttl, IPAddress.Parse(record.Value)),
        "AAAA" => new AaaaRecord(owner, record.Ttl, IPAddress.Parse(record.Value)),
        "CNAME" => new CNameRecord(owner, record.Ttl, DomainName.Parse(record.Value)),
        "TXT" => new TxtRecord(owner, record.Ttl, record.Value),
        _ => throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"unsupported type {record.Type}")),
    };

    private static string Normalize(string name) => name.TrimEnd('.').ToLowerInvariant();
}
