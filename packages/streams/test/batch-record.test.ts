import { describe, expect, it } from 'vitest';
import { BatchRecords } from '../src/batch-record.ts';

describe('BatchRecords', () => {
  it('numbers batches and passes the lowest batch still awaited on the conversation as the floor', () => {
    const records = new BatchRecords();
    const a = records.open('c1', 'p');
    const b = records.open('c1', 'p');
    const other = records.open('c2', 'p');
    expect([a.batch, b.batch, other.batch]).toEqual(['1', '2', '3']);
    expect([a.floor, b.floor, other.floor]).toEqual(['1', '1', '3']);
    expect(a.key).toBe(b.key);
    expect(a.key.startsWith('p:batches:')).toBe(true);
    // Batch 2 answered first: 1 is still awaited, so it stays the floor.
    records.settle(b);
    expect(records.open('c1', 'p').floor).toBe('1');
    records.settle(a);
    expect(records.open('c1', 'p').floor).toBe('4');
  });

  it('forgets a conversation once nothing is awaited on it', () => {
    const records = new BatchRecords();
    const a = records.open('c1', 'p');
    expect(records.conversations).toBe(1);
    records.settle(a);
    expect(records.conversations).toBe(0);
    expect(records.open('c1', 'p').floor).toBe('2');
  });

  it('settles a slot once: settling it again changes nothing', () => {
    const records = new BatchRecords();
    const a = records.open('c1', 'p');
    const b = records.open('c1', 'p');
    records.settle(a);
    records.settle(a);
    expect(records.open('c1', 'p').floor).toBe(b.batch);
    expect(records.conversations).toBe(1);
  });

  it('gives each writer a record of its own', () => {
    expect(new BatchRecords().open('c', 'p').key).not.toBe(new BatchRecords().open('c', 'p').key);
  });
});
