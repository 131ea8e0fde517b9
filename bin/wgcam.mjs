#!/usr/bin/env node
// The wgcam command. Plain JavaScript so it starts without a build step: it registers tsx's
// TypeScript loader in this very process (no wrapper process between the user's signals and
// the work; see src/util/stop.ts) and hands over to the subcommand dispatcher.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/commands.ts');
