/**
 * Where the generated configuration of each managed service lives. One table, so that the graph's
 * ownership check and the resources that write these files can never disagree.
 */
/** The gateway's webroot for ACME http-01 answers: the port-80 server serves it, the ACME issuer writes it. */
export const ACME_WEBROOT = '/var/www/phoenix-acme';
export const ACME_CHALLENGE_DIR = `${ACME_WEBROOT}/.well-known/acme-challenge`;

export const MANAGED_PATHS = {
  dnsmasq: '/etc/dnsmasq.d/phoenix.conf',
  clusterFirewall: '/etc/pve/firewall/cluster.fw',
  guestFirewall: (id: number) => `/etc/pve/firewall/${id}.fw`,
  nginxHttp: '/etc/nginx/conf.d/phoenix-http.conf',
  nginxSite: '/etc/nginx/conf.d/phoenix-gateway.conf',
  traefikDynamic: '/etc/traefik/dynamic/phoenix.yml',
  trustAnchor: '/usr/local/share/ca-certificates/phoenix-internal-root.crt',
} as const;
