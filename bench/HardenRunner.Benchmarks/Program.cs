using BenchmarkDotNet.Running;

namespace HardenRunner.Benchmarks;

/// <summary>
/// Benchmarks run on demand, never in CI:
/// <c>dotnet run -c Release --project bench/HardenRunner.Benchmarks -- --filter '*PolicyEngine*'</c>.
/// Results go into docs/performance.md with the machine and the command.
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
