import { PortainerApiError, PortainerVerifyError } from './errors.js';
import type { PortainerStack } from './types.js';

/**
 * The converge-and-prove loop every stack kind shares (compose: stacks.ts, swarm: swarm.ts): find the stack;
 * leave it alone when Portainer already stores the wanted file and environment; else create or update it;
 * then verify. A refused create/update becomes a StackDeployError that also says what the refusal left
 * behind, because neither compose nor swarm deploys are transactional.
 */

/** A failed create/update, with Portainer's message and the state it left behind. */
export class StackDeployError extends PortainerVerifyError {
  constructor(
    readonly stackName: string,
    readonly apiError: PortainerApiError,
    readonly notRunning: readonly string[],
    /** true: Portainer kept the new file although the deploy failed (half-deployed). */
    readonly newFileStored: boolean | undefined,
  ) {
    super(
      `stack ${stackName}: Portainer refused the deploy: ${apiError.message}` +
        (notRunning.length > 0 ? `; services not running afterwards: ${notRunning.join(', ')}` : '') +
        (newFileStored === true ? '; Portainer stored the new file anyway (half-deployed)' : ''),
    );
    this.name = 'StackDeployError';
  }
}

export type DeployAction = 'created' | 'updated' | 'unchanged';

export interface DeployResult<S> {
  readonly action: DeployAction;
  readonly stack: PortainerStack;
  readonly services: readonly S[];
}

export interface StackConvergence<S> {
  /** GETs only: the stack found by name and whether its stored file and environment are the wanted ones. */
  observe(): Promise<{
    readonly stack: PortainerStack | undefined;
    readonly contentMatches: boolean;
    /** Services of the stored stack that do not run (known for compose stacks): they are redeployed. */
    readonly services?: ReadonlyArray<{ readonly running: boolean }>;
  }>;
  create(): Promise<PortainerStack>;
  update(stack: PortainerStack): Promise<PortainerStack>;
  /** Throws PortainerVerifyError when what Portainer stores or runs is not what was sent. */
  verify(stack: PortainerStack): Promise<S[]>;
  /** After a refused deploy: the services that do not run, and whether the new file was kept. */
  aftermath(): Promise<{ readonly notRunning: string[]; readonly newFileStored: boolean | undefined }>;
}

export async function convergeStack<S>(name: string, steps: StackConvergence<S>): Promise<DeployResult<S>> {
  const before = await steps.observe();
  let action: DeployAction;
  let stack: PortainerStack;
  const allRunning = (before.services ?? []).every((s) => s.running);
  if (before.stack !== undefined && before.contentMatches && allRunning) {
    action = 'unchanged';
    stack = before.stack;
  } else {
    try {
      if (before.stack === undefined) {
        stack = await steps.create();
        action = 'created';
      } else {
        stack = await steps.update(before.stack);
        action = 'updated';
      }
    } catch (err) {
      if (!(err instanceof PortainerApiError)) throw err;
      throw await deployFailure(name, steps, err);
    }
  }
  return { action, stack, services: await steps.verify(stack) };
}

async function deployFailure<S>(
  name: string,
  steps: StackConvergence<S>,
  cause: PortainerApiError,
): Promise<StackDeployError> {
  // Best effort: describe what the failed deploy left; a failure to look is not allowed to hide the cause.
  try {
    const after = await steps.aftermath();
    return new StackDeployError(name, cause, after.notRunning, after.newFileStored);
  } catch {
    return new StackDeployError(name, cause, [], undefined);
  }
}
