/**
 * Incidents that retention must not delete right now: one being sent to Slack, one whose page or
 * artifact is being streamed. Holds are counted, so two notifiers holding the same incident keep it
 * until both let go.
 */
export class IncidentHolds {
  private readonly counts = new Map<string, number>();

  /** Holds `id`; the returned function releases this hold (calling it again does nothing). */
  hold(id: string): () => void {
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.counts.get(id) ?? 1) - 1;
      if (left > 0) this.counts.set(id, left);
      else this.counts.delete(id);
    };
  }

  isHeld(id: string): boolean {
    return this.counts.has(id);
  }
}
