namespace HardenRunner.Cli.Tests;

public sealed class ArrayPoolSizeTests
{
    [Fact]
    public void Apply_VariableUnset_SetsTheDefault()
    {
        var env = new Dictionary<string, string>();
        ArrayPoolSize.Apply(name => env.GetValueOrDefault(name), (name, value) => env[name] = value);
        Assert.Equal("1024", env[ArrayPoolSize.Variable]);
    }

    [Theory]
    [InlineData("32")]
    [InlineData("4096")]
    public void Apply_VariableSet_KeepsTheOperatorsValue(string value)
    {
        var env = new Dictionary<string, string> { [ArrayPoolSize.Variable] = value };
        ArrayPoolSize.Apply(name => env.GetValueOrDefault(name), (name, v) => env[name] = v);
        Assert.Equal(value, env[ArrayPoolSize.Variable]);
    }
}
