/**
 * The secrets the Docker side needs at run time, read at use from where the target keeps them: the
 * configuration's references on a real target, the lab's own generated files in the lab, the world in
 * memory. Never passed through a traced driver call, never part of an error message.
 */
export type PhoenixSecret = 'portainer-admin-password' | 'portainer-agent-secret';

export interface SecretSource {
  read(name: PhoenixSecret): Promise<string>;
}
