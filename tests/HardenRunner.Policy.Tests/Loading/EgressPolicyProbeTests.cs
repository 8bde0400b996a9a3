using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Model;

namespace HardenRunner.Policy.Tests.Loading;

public sealed class EgressPolicyProbeTests
{
    [Theory]
    // the mode is read although the rest of the file is invalid
    [InlineData("egress-policy: block\nallowed-endpoints: [\"*\"]\n", EgressMode.Block)]
    [InlineData("allowed-endpoints:\n  - github.com:70000\negress-policy: BLOCK\n", EgressMode.Block)]
    [InlineData("egress-policy: block\nfrobnicate: 1\nextends: [no-such-preset]\n", EgressMode.Block)]
    [InlineData("egress-policy: audit\nallowed-cidrs: [10.0.0.1/8]\n", EgressMode.Audit)]
    [InlineData("egress-policy: block\n", EgressMode.Block)]
    public void Read_TopLevelMode_WhateverElseIsWrong(string yaml, EgressMode expected)
    {
        Assert.Equal(expected, EgressPolicyProbe.Read(yaml));
    }

    [Theory]
    [InlineData("")]                                                        // empty file: the default, not a request
    [InlineData("allowed-endpoints: [github.com]\n")]                       // no egress-policy
    [InlineData("egress-policy: enforce\n")]                                // not a mode
    [InlineData("egress-policy: [block]\n")]                                // not a single value
    [InlineData("egress-polcy: block\n")]                                   // a misspelt key is not the key
    [InlineData("egress-policy: block\nallowed-endpoints: [github.com\n")]  // YAML syntax error: cannot be read
    [InlineData("egress-policy: block\negress-policy: audit\n")]            // duplicate key
    [InlineData("- egress-policy: block\n")]                                // not a mapping
    [InlineData("rules:\n  - egress-policy: block\n")]                      // not top-level
    public void Read_Unknown(string yaml)
    {
        Assert.Null(EgressPolicyProbe.Read(yaml));
    }
}
