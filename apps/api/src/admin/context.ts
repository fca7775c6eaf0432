import type { Queue } from 'bullmq';
import type { RouteContext } from '../context.ts';

/** What the admin area's modules receive: the API's context plus every queue shown on the board. */
export interface AdminContext extends RouteContext {
  boardQueues: Queue[];
}
