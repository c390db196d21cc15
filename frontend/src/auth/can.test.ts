import { describe, expect, it } from 'vitest';
import { can, mainRole } from './can';

describe('can (the role matrix of API.md)', () => {
  it('lets every role read and only builders write', () => {
    expect(can('models:read', ['viewer'])).toBe(true);
    expect(can('models:write', ['viewer'])).toBe(false);
    expect(can('models:write', ['business-user'])).toBe(false);
    expect(can('models:write', ['data-scientist'])).toBe(true);
    expect(can('models:download', ['business-user'])).toBe(false);
  });
  it('lets business users run but not viewers', () => {
    expect(can('executions:run', ['business-user'])).toBe(true);
    expect(can('executions:run', ['viewer'])).toBe(false);
  });
  it('keeps administration to admins', () => {
    expect(can('users:admin', ['admin'])).toBe(true);
    expect(can('users:admin', ['data-scientist'])).toBe(false);
    expect(can('users:admin', [])).toBe(false);
  });
  it('shows the strongest role', () => {
    expect(mainRole(['viewer', 'admin', 'offline_access'])).toBe('admin');
    expect(mainRole(['offline_access'])).toBeNull();
  });
});
