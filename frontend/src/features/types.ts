/** What a feature (a section of the side menu) declares to plug into the app. */
import type { ReactNode } from 'react';
import type { RouteObject } from 'react-router-dom';
import type { Action } from '../auth/can';

/** The sections of guide 3.1, in the guide's order (the menu follows it). */
export const SECTIONS = [
  'dashboard',
  'models',
  'deployments',
  'executions',
  'users',
  'reports',
  'integrations',
  'administration',
] as const;
export type Section = (typeof SECTIONS)[number];

export interface Feature {
  /** Which guide section this is (decides its place in the menu). Several features
   *  of one section (the `administration` screens of guide 8.2) make a sub-menu. */
  section: Section;
  /** Place inside a sub-menu (lower first); features alone in their section ignore it. */
  order?: number;
  /** Where it lives: `/models`; its routes are relative to it. */
  path: string;
  /** i18n key of its menu label (`menu.models` → "Modèles"). */
  labelKey: string;
  icon: ReactNode;
  /** Who sees the menu entry and may open its routes (auth/policy.json). */
  action: Action;
  /** Routes under `path` (lazy pages: each feature is its own chunk). */
  routes: RouteObject[];
}
