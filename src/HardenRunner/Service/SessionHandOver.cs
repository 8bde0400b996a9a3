namespace HardenRunner.Service;

/// <summary>
/// Between one service-mode run and the next: when set before the run is stopped, the run leaves its firewall table in
/// place for the next run to replace in one transaction (the table's redirects point at the DNS server and proxy,
/// which are down meanwhile, so those flows fail instead of passing unseen; in block mode everything else stays
/// closed too). Unset (the final stop), the run removes its table as usual.
/// </summary>
public sealed class SessionHandOver
{
    private volatile bool _keepTable;

    public bool KeepTable
    {
        get => _keepTable;
        set => _keepTable = value;
    }
}
