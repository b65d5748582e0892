// The node's configuration files: the CNI network, containerd's CRI plugin and the
// KubeletConfiguration, as this kind of machine needs them (cgroup v1, no
// CAP_SYS_RESOURCE, no iptables). Written into the node directory; paths returned.
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';

export function writeContainerdConfig(dir: string, o: { sock: string; runc: string; cniBin: string; bridge: string; bridgeIP: string; subnet: string; sandboxImage: string }): string {
  writeFileSync(join(dir, 'cni/net.d/10-podhooks.conflist'), JSON.stringify({
    cniVersion: '0.4.0',
    name: 'podhooks',
    // isGateway/ipMasq false: no iptables rules and no write to ip_forward; pods, the
    // host and each other meet on the bridge's subnet.
    plugins: [{ type: 'bridge', bridge: o.bridge, isGateway: false, ipMasq: false, hairpinMode: true, ipam: { type: 'host-local', ranges: [[{ subnet: o.subnet, gateway: o.bridgeIP }]] } }],
  }));
  const containerdConfig = join(dir, 'containerd', 'config.toml');
  writeFileSync(containerdConfig, `version = 2
root = "${join(dir, 'containerd', 'root')}"
state = "${join(dir, 'containerd', 'state')}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing"]
[grpc]
address = "${o.sock}"
[plugins."io.containerd.grpc.v1.cri"]
sandbox_image = "${o.sandboxImage}"
# No CAP_SYS_RESOURCE here: runc cannot set a negative oom_score_adj.
restrict_oom_score_adj = true
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
      BinaryName = "${o.runc}"
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "${o.cniBin}"
  conf_dir = "${join(dir, 'cni/net.d')}"
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "${join(dir, 'certs.d')}"
`);
  return containerdConfig;
}

export function writeKubeletConfig(dir: string, o: { sock: string; port: number; healthzPort: number; cgroupRoot: string }): string {
  const kubeletConfig = join(dir, 'kubelet.json');
  writeFileSync(kubeletConfig, JSON.stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: '127.0.0.1',
    port: o.port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: o.healthzPort,
    // The apiserver (logs, exec, port-forward) proves itself with a client certificate;
    // what it may do is asked of the apiserver (SubjectAccessReview).
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: join(dir, 'kubelet-client-ca.crt') } },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${o.sock}`,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: o.cgroupRoot,
    failCgroupV1: false,
    failSwapOn: false,
    enforceNodeAllocatable: [],
    // Never evict or garbage-collect the imported images because of this machine's disk.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
    serializeImagePulls: false,
    resolvConf: '/etc/resolv.conf',
    syncFrequency: '5s',
    fileCheckFrequency: '5s',
  }));
  return kubeletConfig;
}
