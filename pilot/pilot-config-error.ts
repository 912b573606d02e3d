/** A bad or missing option; `option` is the flag (e.g. `--cores`) or, for a config file problem, `--config`. */
export class PilotConfigError extends Error {
  override readonly name = 'PilotConfigError';
  readonly option: string;
  constructor(option: string, message: string) {
    super(message);
    this.option = option;
  }
}
