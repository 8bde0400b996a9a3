using HardenRunner.Policy.Loading;
using HardenRunner.Tests.Reporting;
using k8s;
using k8s.Models;

namespace HardenRunner.Tests.Deployment;

/// <summary>
/// The ARC DaemonSet manifests under appliance/kubernetes: every document is parsed strictly against the Kubernetes
/// API types (KubernetesClient's models, generated from the API's OpenAPI schema: an unknown or misspelt field fails),
/// and the DaemonSet is checked for what the appliance needs on a node.
/// </summary>
public class KubernetesManifestTests
{
    private static readonly string Dir = ReportSchema.PathInRepo("appliance/kubernetes");

    public static TheoryData<string> Manifests()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Dir, "*.yaml").Where(f => Path.GetFileName(f) != "kustomization.yaml").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(f));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void EveryManifest_ParsesStrictly_AsKubernetesObjects(string file)
    {
        var objects = KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(Dir, file)), strict: true);
        Assert.NotEmpty(objects);
        Assert.All(objects, o => Assert.IsAssignableFrom<IKubernetesObject>(o));
    }

    [Fact]
    public void Strictness_IsReal_AMisspeltFieldFails()
    {
        var yaml = File.ReadAllText(Path.Combine(Dir, "daemonset.yaml")).Replace("hostNetwork: true", "hostNetwrok: true", StringComparison.Ordinal);
        Assert.ThrowsAny<Exception>(() => KubernetesYaml.LoadAllFromString(yaml, strict: true));
    }

    [Fact]
    public void Kustomization_ListsEveryManifest()
    {
        var kustomization = File.ReadAllText(Path.Combine(Dir, "kustomization.yaml"));
        foreach (var file in Directory.GetFiles(Dir, "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml"))
        {
            Assert.Contains("  - " + file, kustomization, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void DaemonSet_RunsInTheNodesNamespaces_WithThePersistentCa_AndMountsWhatItsArgumentsName()
    {
        var ds = KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(Dir, "daemonset.yaml")), strict: true).OfType<V1DaemonSet>().Single();
        var pod = ds.Spec.Template.Spec;
        Assert.True(pod.HostNetwork);
        Assert.True(pod.HostPID);
        Assert.Equal(ds.Spec.Selector.MatchLabels, ds.Spec.Template.Metadata.Labels);

        var container = Assert.Single(pod.Containers);
        var args = container.Args.ToList();
        Assert.Equal("run", args[0]);
        string Arg(string name) => args[args.IndexOf(name) + 1];
        var mounts = container.VolumeMounts.Select(m => m.MountPath).ToList();
        foreach (var path in new[] { Arg("--policy"), Arg("--state-dir"), Arg("--ca-dir") })
        {
            Assert.Contains(mounts, m => path.StartsWith(m + "/", StringComparison.Ordinal));
        }

        var caps = container.SecurityContext.Capabilities;
        Assert.Equal(["ALL"], caps.Drop);
        Assert.Contains("NET_ADMIN", caps.Add);
        Assert.Contains("SYS_ADMIN", caps.Add);
        Assert.False(container.SecurityContext.Privileged);
        Assert.False(container.SecurityContext.AllowPrivilegeEscalation);

        // the CA directory is on the host, so the node keeps one CA across restarts of the pod
        var stateVolume = pod.Volumes.Single(v => v.Name == container.VolumeMounts.Single(m => Arg("--ca-dir").StartsWith(m.MountPath + "/", StringComparison.Ordinal)).Name);
        Assert.NotNull(stateVolume.HostPath);
    }

    [Fact]
    public void ThePolicyInTheConfigMap_PassesPolicyCheck()
    {
        var map = KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(Dir, "configmap.yaml")), strict: true).OfType<V1ConfigMap>().Single();
        var result = PolicyLoader.Parse(map.Data["policy.yml"], "configmap.yaml:policy.yml");
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
    }
}
