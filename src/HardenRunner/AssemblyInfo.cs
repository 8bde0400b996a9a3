// The appliance is Linux software: nftables, netlink, fanotify, SO_ORIGINAL_DST.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
