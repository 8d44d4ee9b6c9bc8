/**
 * Where the generated configuration of each managed service lives. One table, so that the graph's
 * ownership check and the resources that write these files can never disagree.
 */
export const MANAGED_PATHS = {
  dnsmasq: '/etc/dnsmasq.d/phoenix.conf',
  clusterFirewall: '/etc/pve/firewall/cluster.fw',
  guestFirewall: (id: number) => `/etc/pve/firewall/${id}.fw`,
  nginxSite: '/etc/nginx/conf.d/phoenix-gateway.conf',
  traefikDynamic: '/etc/traefik/dynamic/phoenix.yml',
  trustAnchor: '/usr/local/share/ca-certificates/phoenix-internal-root.crt',
} as const;
