namespace HardenRunner.Cli.Commands;

/// <summary>The CLI contract (DESIGN §3): 0 success, 2 bad usage or invalid input, 1 any other failure.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int InvalidInput = 2;
}
