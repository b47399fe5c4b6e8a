"""Running a sync cycle: read both sides, plan with the engine, apply the plan through the stores, report."""
