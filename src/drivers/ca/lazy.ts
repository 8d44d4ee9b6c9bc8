import type { IssueOptions, IssueRequest, Issued, IssuerDriver, RenewalInfo } from './types.js';

/**
 * An issuer built on first use: drivers are created before anything is known to be needed, and building a
 * real one reads secrets or talks to the CA. A failed build is forgotten, so the next call tries again.
 */
export class LazyIssuer implements IssuerDriver {
  private inner?: Promise<IssuerDriver>;
  constructor(
    readonly name: string,
    private readonly build: () => Promise<IssuerDriver>,
    /** Where the roots are known without building the issuer (the lab reads its CA's root from disk). */
    private readonly knownRoots?: () => Promise<string>,
  ) {}
  private issuer(): Promise<IssuerDriver> {
    this.inner ??= this.build().catch((e: unknown) => {
      this.inner = undefined;
      throw e;
    });
    return this.inner;
  }
  async roots(): Promise<string> {
    if (this.knownRoots) return this.knownRoots();
    return (await this.issuer()).roots();
  }
  async issue(request: IssueRequest, options?: IssueOptions): Promise<Issued> {
    return (await this.issuer()).issue(request, options);
  }
  async renewalInfo(certPem: string): Promise<RenewalInfo | undefined> {
    return (await this.issuer()).renewalInfo?.(certPem);
  }
}
