/** The operator commands (README "Tenants and API keys"): their own arguments follow the command. */
export async function runCli(load: () => Promise<{ main(): Promise<void> }>): Promise<void> {
  process.argv.splice(2, 1);
  try {
    await (await load()).main();
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof Error && err.name === 'UsageError' ? 2 : 1);
  }
}
