/** Short names for the generated API types (src/api/schema.d.ts, from openapi.json). */
import type { components } from './schema';

type Schemas = components['schemas'];

export type Model = Schemas['Model'];
export type ModelPage = Schemas['ModelPage'];
export type ModelWrite = Schemas['ModelCreate'];
export type ModelFacets = Schemas['ModelFacets'];
export type Deployment = Schemas['Deployment'];
export type DeploymentPage = Schemas['DeploymentPage'];
export type DeploymentWrite = Schemas['DeploymentWrite'];
export type DeploymentInput = Schemas['Input'];
export type DeploymentChange = Schemas['History'];
export type SchedulePreview = Schemas['Preview'];
export type Execution = Schemas['Execution'];
export type ExecutionPage = Schemas['ExecutionPage'];
export type ExecutionResources = Schemas['Resources'];
export type ExecutionUsage = Schemas['Usage'];
export type ResourceLimits = Schemas['ResourceLimits'];
export type Me = Schemas['Me'];
export type User = Schemas['User'];
export type UserPage = Schemas['UserPage'];
export type UserCreate = Schemas['UserCreate'];
export type UserUpdate = Schemas['UserUpdate'];

/** The error envelope of API.md. */
export interface ErrorEnvelope {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/** A page of a list endpoint. */
export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  per_page: number;
}
