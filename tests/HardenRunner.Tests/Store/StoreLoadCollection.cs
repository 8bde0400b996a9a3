namespace HardenRunner.Tests.Store;

/// <summary>
/// The store's timing-sensitive tests (sustained ingest, burst, kill -9) run in this collection: one at a time and
/// not beside this assembly's other tests, so that they measure the store rather than the neighbours.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class StoreLoadCollection
{
    public const string Name = "store load (serial)";
}
