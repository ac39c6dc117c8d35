/** Bounded retry for "eventually" assertions (never a fixed short deadline for correctness). */

/**
 * Run `check` until it passes or `withinMs` milliseconds have passed; then its last failure is
 * thrown. Waits `pauseMs` between tries.
 */
export async function eventually(check: () => Promise<void>, withinMs = 2000, pauseMs = 20): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
}
